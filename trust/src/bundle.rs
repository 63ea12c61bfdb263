//! The signature on a bundle's `MANIFEST`: ed25519 by the exporter's key over the domain tag
//! `wharf-bundle-manifest-v1` and a NUL byte followed by the exact bytes of the manifest, so
//! a signature made for any other Wharf document never verifies as a manifest signature.

use crate::{PublicKey, Signature, SigningKey, TrustError};

/// The domain-separation prefix of a manifest signature.
const MANIFEST_DOMAIN: &[u8] = b"wharf-bundle-manifest-v1\0";

fn signed_bytes(manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(MANIFEST_DOMAIN.len() + manifest.len());
    message.extend_from_slice(MANIFEST_DOMAIN);
    message.extend_from_slice(manifest);
    message
}

/// The exporter's signature over `manifest` (exact bytes).
pub fn sign_manifest(key: &SigningKey, manifest: &[u8]) -> Signature {
    key.sign_raw(&signed_bytes(manifest))
}

/// Checks that `signature` is `exporter`'s signature over exactly `manifest`.
pub fn verify_manifest(
    exporter: &PublicKey,
    manifest: &[u8],
    signature: &Signature,
) -> Result<(), TrustError> {
    if exporter.verifies(&signed_bytes(manifest), signature) {
        Ok(())
    } else {
        Err(TrustError::BadSignature {
            document: "bundle MANIFEST".to_owned(),
            key_id: exporter.key_id().short(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    #[test]
    fn a_manifest_signature_binds_the_bytes_and_the_key() {
        let exporter = key(7);
        let signature = sign_manifest(&exporter, b"wharf-bundle v1\n");
        assert!(verify_manifest(&exporter.public_key(), b"wharf-bundle v1\n", &signature).is_ok());
        assert!(
            verify_manifest(&exporter.public_key(), b"wharf-bundle v1\r\n", &signature).is_err()
        );
        assert!(verify_manifest(&key(8).public_key(), b"wharf-bundle v1\n", &signature).is_err());
        // The plain bytes without the domain tag are not a manifest signature.
        let plain = exporter.sign_raw(b"wharf-bundle v1\n");
        assert!(verify_manifest(&exporter.public_key(), b"wharf-bundle v1\n", &plain).is_err());
    }
}

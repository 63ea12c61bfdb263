//! Signatures on manifests: a bundle's `MANIFEST` (by the exporter's key) and a backup's
//! manifest (by the registry's release key, `wharf admin backup`). Each is ed25519 over a
//! domain tag (`wharf-bundle-manifest-v1`, `wharf-backup-manifest-v1`) and a NUL byte
//! followed by the exact bytes of the manifest, so a signature made for any other Wharf
//! document (or the other kind of manifest) never verifies as one.

use crate::{PublicKey, Signature, SigningKey, TrustError};

/// The domain-separation prefix of a bundle manifest signature.
const MANIFEST_DOMAIN: &[u8] = b"wharf-bundle-manifest-v1\0";
/// The domain-separation prefix of a backup manifest signature.
const BACKUP_MANIFEST_DOMAIN: &[u8] = b"wharf-backup-manifest-v1\0";

fn signed_bytes(domain: &[u8], manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + manifest.len());
    message.extend_from_slice(domain);
    message.extend_from_slice(manifest);
    message
}

fn verify(
    domain: &[u8],
    document: &str,
    signer: &PublicKey,
    manifest: &[u8],
    signature: &Signature,
) -> Result<(), TrustError> {
    if signer.verifies(&signed_bytes(domain, manifest), signature) {
        Ok(())
    } else {
        Err(TrustError::BadSignature {
            document: document.to_owned(),
            key_id: signer.key_id().short(),
        })
    }
}

/// The exporter's signature over `manifest` (exact bytes).
pub fn sign_manifest(key: &SigningKey, manifest: &[u8]) -> Signature {
    key.sign_raw(&signed_bytes(MANIFEST_DOMAIN, manifest))
}

/// Checks that `signature` is `exporter`'s signature over exactly `manifest`.
pub fn verify_manifest(
    exporter: &PublicKey,
    manifest: &[u8],
    signature: &Signature,
) -> Result<(), TrustError> {
    verify(
        MANIFEST_DOMAIN,
        "bundle MANIFEST",
        exporter,
        manifest,
        signature,
    )
}

/// The registry's signature (its release key) over a backup's `manifest` (exact bytes).
pub fn sign_backup_manifest(release_key: &SigningKey, manifest: &[u8]) -> Signature {
    release_key.sign_raw(&signed_bytes(BACKUP_MANIFEST_DOMAIN, manifest))
}

/// Checks that `signature` is the signature of the release key `release` over exactly the
/// backup manifest `manifest`.
pub fn verify_backup_manifest(
    release: &PublicKey,
    manifest: &[u8],
    signature: &Signature,
) -> Result<(), TrustError> {
    verify(
        BACKUP_MANIFEST_DOMAIN,
        "backup manifest",
        release,
        manifest,
        signature,
    )
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

    #[test]
    fn a_backup_manifest_signature_is_no_bundle_signature() {
        let registry = key(9);
        let manifest = b"{\"format\":\"wharf-backup-2\"}";
        let signature = sign_backup_manifest(&registry, manifest);
        assert!(verify_backup_manifest(&registry.public_key(), manifest, &signature).is_ok());
        assert!(verify_backup_manifest(&registry.public_key(), b"{}", &signature).is_err());
        assert!(verify_manifest(&registry.public_key(), manifest, &signature).is_err());
        let bundle = sign_manifest(&registry, manifest);
        assert!(verify_backup_manifest(&registry.public_key(), manifest, &bundle).is_err());
    }
}

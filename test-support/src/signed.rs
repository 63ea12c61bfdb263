//! Signed publishes built the way `wharf publish` builds them: a release statement over the
//! `.crate` hash and the hash of the index line the registry will derive, signed by a
//! publisher key, with the key's own owner-key-add statement, in the request headers
//! `Wharf-Release-Statement`, `Wharf-Signature`, `Wharf-Key-Statement` and
//! `Wharf-Key-Signature`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wharf_index_format::{Pubtime, release_index_line};
use wharf_trust::{Hash, SigningKey, Statement, StatementBody, UtcTime};

use crate::SupportError;

/// The headers signing the publish of `json` (the metadata as uploaded) and `crate_bytes`
/// for the registry named `origin`, dated `time`: `(name, value)` pairs.
pub fn signed_publish_headers(
    key: &SigningKey,
    origin: &str,
    json: &[u8],
    crate_bytes: &[u8],
    time: UtcTime,
) -> Result<Vec<(&'static str, String)>, SupportError> {
    let metadata: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| SupportError::Signing(e.to_string()))?;
    let field = |name: &str| {
        metadata[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SupportError::Signing(format!("the metadata has no `{name}`")))
    };
    let (name, version) = (field("name")?, field("vers")?);
    let cksum = Hash::sha256(crate_bytes);
    let line = release_index_line(json, &cksum.to_hex(), Pubtime::from_unix(time.unix()))
        .map_err(|e| SupportError::Signing(e.to_string()))?;
    let signing = |error: wharf_trust::TrustError| SupportError::Signing(error.to_string());
    let release = Statement::new(
        origin,
        &name,
        StatementBody::Release {
            version,
            cksum,
            entry: Hash::sha256(line.as_bytes()),
        },
        time,
    )
    .map_err(signing)?;
    let add = Statement::new(
        origin,
        &name,
        StatementBody::OwnerKeyAdd {
            key: key.public_key(),
        },
        time,
    )
    .map_err(signing)?;
    Ok(vec![
        (
            "Wharf-Release-Statement",
            STANDARD.encode(release.to_text()),
        ),
        ("Wharf-Signature", release.sign(key).to_text()),
        ("Wharf-Key-Statement", STANDARD.encode(add.to_text())),
        ("Wharf-Key-Signature", add.sign(key).to_text()),
    ])
}

//! The headers `wharf publish` adds to cargo's publish request to sign a release. Cargo's own
//! `cargo publish` never sends them, so an unsigned publish is cargo's request unchanged.
//!
//! - `Wharf-Release-Statement`: standard base64 of the `wharf-release-v1` statement text.
//! - `Wharf-Signature`: `<64 hex key id>:<base64 signature>` over the statement; repeatable,
//!   one per key.
//! - `Wharf-Key-Statement` and `Wharf-Key-Signature`: the `wharf-owner-key-add-v1`
//!   statement adding the signing key to the package (base64) and that key's signature over
//!   it, used when the release is the package's first signed one (trust on first use).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use wharf_storage::SignedRelease;
use wharf_trust::{Statement, StatementSignature};

use crate::error::ApiError;

/// The header carrying the base64 release statement.
pub const RELEASE_STATEMENT_HEADER: &str = "wharf-release-statement";
/// The header carrying one `<key id>:<base64 signature>` over the release statement.
pub const SIGNATURE_HEADER: &str = "wharf-signature";
/// The header carrying the base64 owner-key-add statement of the signing key.
pub const KEY_STATEMENT_HEADER: &str = "wharf-key-statement";
/// The header carrying the signing key's signature over the owner-key-add statement.
pub const KEY_SIGNATURE_HEADER: &str = "wharf-key-signature";

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "the `{name}` header is sent twice; send it once"
        )));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("the `{name}` header is not ASCII text")))
}

fn statement(headers: &HeaderMap, name: &str) -> Result<Option<Statement>, ApiError> {
    let Some(text) = header_text(headers, name)? else {
        return Ok(None);
    };
    let bytes = STANDARD.decode(text.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "the `{name}` header is not standard base64 ({e}); send the statement text base64-encoded"
        ))
    })?;
    Statement::parse(&bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("the `{name}` header: {e}")))
}

fn signature(name: &str, text: &str) -> Result<StatementSignature, ApiError> {
    StatementSignature::parse(text.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "the `{name}` header: {e}; send `<64 hex key id>:<base64 signature>`"
        ))
    })
}

/// The signed release a publish request carries, `None` when it carries none. A malformed
/// header, a signature without a statement, or two signatures by one key is a 400.
pub(crate) fn signed_release(headers: &HeaderMap) -> Result<Option<SignedRelease>, ApiError> {
    let release = statement(headers, RELEASE_STATEMENT_HEADER)?;
    let signatures = headers
        .get_all(SIGNATURE_HEADER)
        .iter()
        .map(|value| {
            value
                .to_str()
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "the `{SIGNATURE_HEADER}` header is not ASCII text"
                    ))
                })
                .and_then(|text| signature(SIGNATURE_HEADER, text))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key_statement = statement(headers, KEY_STATEMENT_HEADER)?;
    let key_signature = header_text(headers, KEY_SIGNATURE_HEADER)?
        .map(|text| signature(KEY_SIGNATURE_HEADER, text))
        .transpose()?;
    let Some(release) = release else {
        if signatures.is_empty() && key_statement.is_none() && key_signature.is_none() {
            return Ok(None);
        }
        return Err(ApiError::bad_request(format!(
            "signature headers came without the `{RELEASE_STATEMENT_HEADER}` they sign; send it too (`wharf publish --key FILE` does)"
        )));
    };
    let mut ids: Vec<_> = signatures.iter().map(|s| s.key_id).collect();
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ApiError::bad_request(format!(
            "two `{SIGNATURE_HEADER}` headers are by key {}; send one signature per key",
            pair[0].short()
        )));
    }
    let key_statement = match (key_statement, key_signature) {
        (Some(statement), Some(signature)) => Some((statement, signature)),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(format!(
                "send `{KEY_STATEMENT_HEADER}` and `{KEY_SIGNATURE_HEADER}` together"
            )));
        }
    };
    Ok(Some(SignedRelease {
        statement: release,
        signatures,
        key_statement,
    }))
}

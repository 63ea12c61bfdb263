//! Premium packages: the licence check on their downloads, and
//! `GET /api/wharf/v1/entitlements`, what an installer needs to check licences offline:
//! `{"keys":["wharf-ed25519:…"],"premium":["name",…],"revocations":"<signed list>"|null}`.
//!
//! A premium package's index file stays public to readers (its existence is no secret);
//! its blobs need a licence in the `Wharf-Licence` header that covers the package and
//! version, is signed by a trusted entitlement key, is in its validity window, is not
//! revoked and names the caller (or a tenant). A refusal is a 403 naming the failed check.

use http::{HeaderMap, StatusCode};
use wharf_storage::Principal;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The path of the entitlement information.
pub(crate) const PATH: &str = "/api/wharf/v1/entitlements";

/// The header a client presents its licence in.
pub(crate) const LICENCE_HEADER: &str = "wharf-licence";

/// Answers the trusted keys, the premium packages and the newest revocation list.
pub(crate) async fn info(state: &AppState, headers: &HeaderMap) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    let info = state.storage.entitlement_info()?;
    let body =
        serde_json::to_value(&info).map_err(|e| ApiError::internal("showing entitlements", &e))?;
    Ok(json_ok(&body))
}

/// Refuses (403) a download of a premium release without a licence that covers it.
pub(crate) async fn check_download(
    state: &AppState,
    cksum: &str,
    headers: &HeaderMap,
    reader: Option<Principal>,
) -> Result<(), ApiError> {
    let licence = headers
        .get(LICENCE_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty());
    let caller = match reader {
        Some(principal) => principal.login,
        None => auth::login_or_anonymous(state, headers).await,
    };
    let checked = state
        .storage
        .check_download(cksum, licence, Some(caller))
        .await?;
    match checked {
        None => Ok(()),
        Some(refused) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{}: {}", refused.release, refused.refusal),
        )),
    }
}

//! The premium download check of a mirror copy (synced or imported from a bundle).
//!
//! `wharf mirror sync` and `wharf bundle import` write `<copy>/entitlements.json`
//! ([`MirrorEntitlements`]) into the staged copy, switched in with its index, after checking
//! it against the keyset the pinned root key starts: the entitlement keys signed into the
//! registry's keyset, the premium packages, the signed revocation list, and the blob of every
//! premium release. A blob
//! listed there needs a licence in the `Wharf-Licence` header, checked by
//! `wharf_trust::Licence::check` as the origin registry checks it, so the refusal (403) names
//! the same check in the same words. A copy has no accounts, so the licensee is not
//! compared with a caller. A copy without the file has no premium packages (its upstream
//! had none, or answered no entitlement information).

use std::collections::BTreeMap;
use std::path::Path;

use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use wharf_trust::{Licence, LicenceRefusal, LicenceRequest, PublicKey, RevocationList, UtcTime};

use crate::error::ApiError;
use crate::response::{Resp, json_ok};

/// The file in a copy's root that holds its entitlement information.
pub const MIRROR_ENTITLEMENTS: &str = "entitlements.json";

/// The path an installer reads the entitlement information at.
pub(super) const PATH: &str = "/api/wharf/v1/entitlements";

/// The header a client presents its licence in.
const LICENCE_HEADER: &str = "wharf-licence";

/// What a copy records about its premium packages, in `<copy>/entitlements.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorEntitlements {
    /// Public entitlement keys (`wharf-ed25519:…`), each signed into the keyset.
    pub keys: Vec<String>,
    /// Names of the premium packages.
    pub premium: Vec<String>,
    /// The newest signed revocation list, if any.
    pub revocations: Option<String>,
    /// The blob (`cksum`) of each premium release the copy carries → `[name, version]` (a
    /// synced copy also names those of the copy it replaced, whose blobs leave the store
    /// after the switch).
    pub releases: BTreeMap<String, (String, String)>,
}

fn damaged(reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "this mirror's `{MIRROR_ENTITLEMENTS}` is damaged ({reason}); sync the mirror or import the bundle again"
        ),
    )
}

/// The copy's entitlement information; the empty one when the copy has none.
async fn read(copy: &Path) -> Result<MirrorEntitlements, ApiError> {
    match tokio::fs::read(copy.join(MIRROR_ENTITLEMENTS)).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(damaged),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok(MirrorEntitlements::default())
        }
        Err(error) => Err(damaged(error)),
    }
}

/// `GET /api/wharf/v1/entitlements`: `{"keys":[…],"premium":[…],"revocations":…}` as the
/// origin registry answers it.
pub(super) async fn info(copy: &Path) -> Result<Resp, ApiError> {
    let info = read(copy).await?;
    Ok(json_ok(&serde_json::json!({
        "keys": info.keys,
        "premium": info.premium,
        "revocations": info.revocations,
    })))
}

/// Refuses (403, naming the check) a download of a premium release's blob `cksum` without a
/// licence that covers it.
pub(super) async fn check_download(
    copy: &Path,
    cksum: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let info = read(copy).await?;
    let Some((name, version)) = info.releases.get(cksum) else {
        return Ok(());
    };
    let refuse = |refusal: LicenceRefusal| {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name}@{version}: {refusal}"),
        ))
    };
    let Some(text) = headers
        .get(LICENCE_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
    else {
        return refuse(LicenceRefusal::Missing);
    };
    let licence = match Licence::parse(text) {
        Ok(licence) => licence,
        Err(error) => return refuse(LicenceRefusal::Malformed(error.to_string())),
    };
    let keys = info
        .keys
        .iter()
        .map(|key| PublicKey::parse(key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(damaged)?;
    let list = info
        .revocations
        .as_deref()
        .map(|text| RevocationList::open(text, &keys))
        .transpose()
        .map_err(damaged)?;
    let request = LicenceRequest {
        package: name,
        version,
        caller: None,
        now: UtcTime::now(),
    };
    match licence.check(&request, &keys, list.as_ref().map(RevocationList::as_check)) {
        Ok(()) => Ok(()),
        Err(refusal) => refuse(refusal),
    }
}

//! Downloads: the immutable `/blobs/sha256/{hex}` and cargo's legacy
//! `/api/v1/crates/{name}/{version}/download`.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::auth;
use crate::error::ApiError;
use crate::response::{Body, Resp, empty};
use crate::state::AppState;

/// Serves a blob by its SHA-256. Blob URLs never change meaning, so they are cacheable forever.
pub(crate) async fn blob(
    state: &AppState,
    hex: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    let reader = auth::reader(state, headers).await?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::not_found(format!(
            "`{hex}` is not a blob address: expected 64 lowercase hex digits of a SHA-256"
        )));
    }
    crate::handlers::entitlements::check_download(state, hex, headers, reader).await?;
    crate::handlers::lifecycle::check_download(state, hex).await?;
    let etag = format!("\"{hex}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    state.storage.check_download_quota(hex).await?;
    if let Some(expiry) = state.config.presigned_downloads {
        return redirect_to_presigned(state, hex, expiry).await;
    }
    let Some(blob) = state.storage.blob_stream(hex).await? else {
        return Err(ApiError::not_found(format!("no blob with sha256 `{hex}`")));
    };
    count_download(state, hex, headers).await;
    // Sent as the store delivers it, with its length announced: never held whole.
    let mut response = Response::new(Body::blob(blob));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    Ok(response)
}

/// A 302 to a presigned URL of the blob in the bucket: the bytes flow from the store, not
/// through the server. The URL expires, so the answer is not cached.
async fn redirect_to_presigned(
    state: &AppState,
    hex: &str,
    expiry: std::time::Duration,
) -> Result<Resp, ApiError> {
    let Some(url) = state.storage.blob_download_url(hex, expiry).await? else {
        return Err(ApiError::not_found(format!("no blob with sha256 `{hex}`")));
    };
    let location = HeaderValue::from_str(&url)
        .map_err(|error| ApiError::internal("presigned download URL", &error))?;
    let mut response = empty(StatusCode::FOUND);
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Serves `/api/v1/crates/{name}/{version}/download` by looking up the version's checksum.
pub(crate) async fn by_version(
    state: &AppState,
    name: &str,
    version: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    let Some(cksum) = state.storage.version_cksum(name, version).await? else {
        return Err(ApiError::not_found(format!(
            "crate `{name}` has no version `{version}` in this registry"
        )));
    };
    blob(state, &cksum, headers).await
}

/// Counts a served blob for the catalogue's statistics, with the user whose token fetched
/// it (a "verified install" for that user's reviews). Queued in memory, never awaited: the
/// download does not wait for, nor fail because of, the count.
async fn count_download(state: &AppState, hex: &str, headers: &HeaderMap) {
    let user_id = crate::auth::optional_principal(state, headers)
        .await
        .map(|who| who.user_id);
    state.catalogue.count_download(
        &state.storage,
        wharf_storage::CountedDownload {
            cksum: hex.to_owned(),
            at: wharf_index_format::Pubtime::now().unix(),
            user_id,
        },
    );
}

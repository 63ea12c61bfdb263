//! The catalogue API under `/api/wharf/v1/catalogue/`: search, package pages and download
//! statistics (reviews are in [`super::reviews`]). Shapes are documented in the OpenAPI
//! document ([`super::openapi`]) and in `docs/catalogue.md`.

use http::HeaderMap;
use serde::Serialize;
use wharf_resolver::Version;
use wharf_storage::{
    CatalogueHit, CatalogueQuery, CatalogueSort, DownloadStats, PackageLifecycle, PackagePage,
};

use super::{catalogue_compat, catalogue_readme};
use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The path prefix of the catalogue.
pub(crate) const PREFIX: &str = "/api/wharf/v1/catalogue/";

/// Results per page unless `per_page` says otherwise.
pub(crate) const DEFAULT_PER_PAGE: usize = 20;
/// The largest page.
pub(crate) const MAX_PER_PAGE: usize = 100;

/// One search result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SearchResult {
    /// The package, by its latest release.
    #[serde(flatten)]
    pub(crate) hit: CatalogueHit,
    /// With `host=`: whether the resolver finds an install set for some version with the
    /// host API pinned to that version (absent without `host=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compatible: Option<bool>,
    /// With `host=`: the version that install set holds (the newest that fits), when
    /// compatible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compatible_version: Option<String>,
}

/// A page of search results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SearchResponse {
    /// Every match, not only this page's.
    pub(crate) total: u64,
    /// The page number, from 1.
    pub(crate) page: usize,
    /// Results per page.
    pub(crate) per_page: usize,
    /// This page.
    pub(crate) results: Vec<SearchResult>,
}

/// A package page with its README rendered and its install command.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PackageResponse {
    /// What storage knows of the package.
    #[serde(flatten)]
    pub(crate) page: PackagePage,
    /// The latest release's README as sanitised HTML, if it has one.
    pub(crate) readme_html: Option<String>,
    /// The command that installs the latest release.
    pub(crate) install: String,
    /// The package's deprecations and quarantined versions (left out when there are none).
    #[serde(skip_serializing_if = "PackageLifecycle::is_empty")]
    #[schema(value_type = Object)]
    pub(crate) lifecycle: PackageLifecycle,
}

/// Parsed search parameters.
struct SearchParams {
    query: CatalogueQuery,
    host: Option<Version>,
    page: usize,
    per_page: usize,
}

fn number(key: &str, value: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{key}={value}` is not a number from {min} to {max}; send e.g. `{key}={min}`"
            ))
        })
}

fn parse_search(query: Option<&str>) -> Result<SearchParams, ApiError> {
    let mut params = SearchParams {
        query: CatalogueQuery::default(),
        host: None,
        page: 1,
        per_page: DEFAULT_PER_PAGE,
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = value.into_owned();
        let non_empty = || (!value.is_empty()).then(|| value.clone());
        match key.as_ref() {
            "q" => params.query.text.clone_from(&value),
            "kind" => params.query.kind = non_empty(),
            "category" => params.query.category = non_empty(),
            "keyword" => params.query.keyword = non_empty(),
            "capability" => params.query.capability = non_empty(),
            "sort" => params.query.sort = value.parse::<CatalogueSort>()?,
            "page" => params.page = number("page", &value, 1, 100_000)?,
            "per_page" => params.per_page = number("per_page", &value, 1, MAX_PER_PAGE)?,
            "host" => {
                params.host = Some(Version::parse(&value).map_err(|e| {
                    ApiError::bad_request(format!(
                        "`host={value}` is not a host API version ({e}); send e.g. `host=2.1.0`"
                    ))
                })?);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown search parameter `{other}`; use q, kind, category, keyword, capability, host, sort, page or per_page"
                )));
            }
        }
    }
    Ok(params)
}

/// Search: full text over name, description, keywords and README, filters, sort, pages.
#[utoipa::path(
    get,
    path = "/api/wharf/v1/catalogue/search",
    tag = "catalogue",
    params(
        ("q" = Option<String>, Query, description = "Words to look for; each matches a word prefix. An exact name ranks first."),
        ("kind" = Option<String>, Query, description = "crate, plugin or template"),
        ("category" = Option<String>, Query, description = "A category of the latest release"),
        ("keyword" = Option<String>, Query, description = "A keyword of the latest release"),
        ("capability" = Option<String>, Query, description = "network, secrets, storage, schedules, webhooks or exclusive"),
        ("host" = Option<String>, Query, description = "A host API version: lists plugins and templates only, compatible ones first, each marked `compatible`"),
        ("sort" = Option<String>, Query, description = "relevance (default), downloads, recent or rating"),
        ("page" = Option<usize>, Query, description = "From 1"),
        ("per_page" = Option<usize>, Query, description = "1 to 100, default 20"),
    ),
    responses(
        (status = 200, description = "A page of results", body = SearchResponse),
        (status = 400, description = "A parameter is malformed", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn search(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    to_json(&run_search(state, query).await?)
}

/// Parses search parameters (as `search` takes them) and runs the search: the JSON API and
/// the web UI's search page both answer from this.
pub(crate) async fn run_search(
    state: &AppState,
    query: Option<&str>,
) -> Result<SearchResponse, ApiError> {
    let mut params = parse_search(query)?;
    state.catalogue.flush_downloads(&state.storage).await;
    let offset = (params.page - 1) * params.per_page;
    let (total, results) = if let Some(host) = &params.host {
        params.query.plugins_only = true;
        catalogue_compat::compatible_first(state, params.query, host, offset, params.per_page)
            .await?
    } else {
        params.query.offset = offset;
        params.query.limit = Some(params.per_page);
        let page = state.storage.catalogue_search(params.query).await?;
        let results = page
            .hits
            .into_iter()
            .map(|hit| SearchResult {
                hit,
                compatible: None,
                compatible_version: None,
            })
            .collect();
        (page.total, results)
    };
    Ok(SearchResponse {
        total,
        page: params.page,
        per_page: params.per_page,
        results,
    })
}

/// The command that installs the latest release of a package.
pub(crate) fn install_command(state: &AppState, page: &PackagePage) -> String {
    let index = format!("{}/index/", state.config.public_url);
    if page.kind == "crate" {
        format!(
            "cargo add {}@{} --index sparse+{index}",
            page.name, page.latest
        )
    } else {
        format!(
            "wharf install {}@{} --dir DIR --index-url {index} --host-api HOST_API_VERSION",
            page.name, page.latest
        )
    }
}

/// A package page.
#[utoipa::path(
    get,
    path = "/api/wharf/v1/catalogue/packages/{name}",
    tag = "catalogue",
    params(("name" = String, Path, description = "The package name (case and -/_ are folded)")),
    responses(
        (status = 200, description = "The package", body = PackageResponse),
        (status = 404, description = "No such package", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn package(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    state.catalogue.flush_downloads(&state.storage).await;
    let page = state.storage.package_page(name).await?;
    let readme_html = page
        .readme_markdown
        .as_deref()
        .map(catalogue_readme::render);
    let install = install_command(state, &page);
    let lifecycle = state.storage.package_lifecycle(name).await?;
    to_json(&PackageResponse {
        page,
        readme_html,
        install,
        lifecycle,
    })
}

/// Download totals and the 90-day daily series.
#[utoipa::path(
    get,
    path = "/api/wharf/v1/catalogue/packages/{name}/downloads",
    tag = "catalogue",
    params(("name" = String, Path, description = "The package name")),
    responses(
        (status = 200, description = "Totals per version and the last 90 days", body = DownloadStats),
        (status = 404, description = "No such package", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn downloads(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    state.catalogue.flush_downloads(&state.storage).await;
    to_json(&state.storage.download_stats(name).await?)
}

/// A 200 JSON response from any serialisable value.
pub(crate) fn to_json(value: &impl Serialize) -> Result<Resp, ApiError> {
    let body = serde_json::to_value(value).map_err(|e| ApiError::internal("rendering JSON", &e))?;
    Ok(json_ok(&body))
}

#[cfg(test)]
mod tests {
    use super::parse_search;

    #[test]
    fn bad_parameters_are_refused_naming_the_parameter() {
        for (query, needle) in [
            ("per_page=0", "`per_page=0`"),
            ("per_page=101", "`per_page=101`"),
            ("page=x", "`page=x`"),
            ("host=two", "`host=two`"),
            ("sort=stars", "`sort=stars`"),
            ("colour=red", "`colour`"),
        ] {
            let Err(error) = parse_search(Some(query)) else {
                panic!("{query} was accepted");
            };
            assert!(
                error.detail().contains(needle),
                "{query}: {}",
                error.detail()
            );
        }
        let params = parse_search(Some("q=http+client&kind=plugin&page=2&per_page=5")).unwrap();
        assert_eq!(params.query.text, "http client");
        assert_eq!(params.query.kind.as_deref(), Some("plugin"));
        assert_eq!((params.page, params.per_page), (2, 5));
    }
}

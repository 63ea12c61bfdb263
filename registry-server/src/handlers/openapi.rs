//! The OpenAPI document of the catalogue API, generated from the handlers' `#[utoipa::path]`
//! attributes and the response types' `ToSchema` derives, served at [`PATH`].

use std::sync::OnceLock;

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;
use utoipa::OpenApi;

use super::{catalogue, install_reports, recommendations, reviews};
use crate::response::{Resp, json_response};

/// Where the document is served.
pub(crate) const PATH: &str = "/api/wharf/v1/openapi.json";

/// Every error answer: cargo's error shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// One entry, whose `detail` says what is wrong and what to do.
    errors: Vec<ErrorDetail>,
}

/// One error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// The message.
    detail: String,
}

/// The catalogue API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wharf catalogue API",
        description = "Search, package pages, download statistics, ratings and reviews, recommendations and install reports."
    ),
    paths(
        catalogue::search,
        catalogue::package,
        catalogue::downloads,
        reviews::list,
        reviews::save,
        reviews::reply,
        reviews::report,
        reviews::hide,
        recommendations::recommendations,
        install_reports::report,
    ),
    components(schemas(
        catalogue::SearchResponse,
        catalogue::SearchResult,
        catalogue::PackageResponse,
        reviews::ReviewRequest,
        reviews::ReplyRequest,
        reviews::ReasonRequest,
        wharf_storage::CatalogueHit,
        wharf_storage::RatingSummary,
        wharf_storage::PackagePage,
        wharf_storage::PageVersion,
        wharf_storage::PageDependency,
        wharf_storage::PagePlugin,
        wharf_storage::DownloadStats,
        wharf_storage::VersionDownloads,
        wharf_storage::DailyDownloads,
        wharf_storage::Review,
        wharf_storage::ReviewReply,
        wharf_storage::HiddenReview,
        wharf_storage::Recommendations,
        wharf_storage::Recommendation,
        wharf_storage::RecommendationBasis,
        wharf_storage::ReportOutcome,
        install_reports::InstallReportRequest,
        install_reports::ReportedPackage,
        ErrorBody,
        ErrorDetail,
    ))
)]
pub(crate) struct CatalogueApi;

/// The document as JSON, built once.
pub(crate) fn document() -> Resp {
    static JSON: OnceLock<Bytes> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        Bytes::from(
            CatalogueApi::openapi()
                .to_json()
                .expect("the generated document serialises"),
        )
    });
    json_response(StatusCode::OK, body.clone())
}

//! The package page: README, versions with dates, yanked and signature state, the install
//! command, dependencies and reverse dependencies, capabilities and host-API range, ratings
//! and reviews with the review form (with the owner's reply and the administrator's hide and
//! unhide forms), recommendations with their explanations, and the downloads chart.

use std::collections::BTreeMap;

use http::StatusCode;
use minijinja::context;
use serde::Serialize;

use super::chart::chart;
use super::response::html;
use super::session::Viewer;
use super::templates::render;
use crate::error::ApiError;
use crate::handlers::catalogue::install_command;
use crate::handlers::catalogue_readme;
use crate::response::Resp;
use crate::state::AppState;

/// One capability the latest release asks for, as the page lists it.
#[derive(Debug, Serialize)]
struct Capability {
    name: String,
    detail: String,
}

/// The capabilities of a plugin manifest (`{"network": ["api.example.com"], …}`) as rows;
/// `false`, `null` and empty lists are capabilities not asked for.
fn capabilities(value: &serde_json::Value) -> Vec<Capability> {
    let Some(map) = value.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, value)| {
            let detail = match value {
                serde_json::Value::Null | serde_json::Value::Bool(false) => return None,
                serde_json::Value::Array(items) if items.is_empty() => return None,
                serde_json::Value::Bool(true) => String::new(),
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            Some(Capability {
                name: name.clone(),
                detail,
            })
        })
        .collect()
}

/// Whether `url` is an `http:` or `https:` address.
fn is_web_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The page of package `name`.
pub(crate) async fn page(
    state: &AppState,
    viewer: Option<&Viewer>,
    name: &str,
) -> Result<Resp, ApiError> {
    state.catalogue.flush_downloads(&state.storage).await;
    let mut page = state.storage.package_page(name).await?;
    // Links from metadata are shown only for web addresses (never `javascript:` and the like).
    for link in [
        &mut page.repository,
        &mut page.homepage,
        &mut page.documentation,
    ] {
        if !link.as_deref().is_some_and(is_web_url) {
            *link = None;
        }
    }
    let principal = viewer.map(|viewer| &viewer.principal);
    let (reviews, download_stats, lifecycle, recommendations) = tokio::try_join!(
        state.storage.reviews(&page.name, principal),
        state.storage.download_stats(&page.name),
        state.storage.package_lifecycle(&page.name),
        state.storage.recommendations(&page.name),
    )?;
    let all_yanked = page.versions.iter().all(|version| version.yanked);
    // The whole package's deprecation, and each version's deprecation or quarantine.
    let package_deprecation = lifecycle
        .deprecations
        .iter()
        .find(|deprecation| deprecation.version.is_none())
        .cloned();
    let successor_package = package_deprecation
        .as_ref()
        .and_then(|deprecation| deprecation.successor.as_deref())
        .map(|successor| successor.split('@').next().unwrap_or(successor).to_owned());
    let deprecated: BTreeMap<String, String> = lifecycle
        .deprecations
        .iter()
        .filter_map(|d| Some((d.version.clone()?, d.message.clone())))
        .collect();
    let quarantined: BTreeMap<String, String> = lifecycle
        .quarantines
        .iter()
        .map(|q| (q.version.clone(), q.reason.clone()))
        .collect();
    let readme_html = page
        .readme_markdown
        .as_deref()
        .map(catalogue_readme::render);
    let install = install_command(state, &page);
    let mine = viewer.and_then(|viewer| {
        reviews
            .iter()
            .find(|review| review.author == viewer.principal.login)
            .cloned()
    });
    let is_owner = viewer.is_some_and(|viewer| page.owners.contains(&viewer.principal.login));
    let capabilities = page
        .plugin
        .as_ref()
        .map(|plugin| capabilities(&plugin.capabilities))
        .unwrap_or_default();
    // The package a template was forked from, for the link on its lineage.
    let lineage_package = page
        .plugin
        .as_ref()
        .and_then(|plugin| plugin.template.as_ref()?.forked_from.as_deref())
        .map(|lineage| lineage.split('@').next().unwrap_or(lineage).to_owned());
    let body = render(
        "package.html",
        context! {
            title => format!("{} {} · Wharf", page.name, page.latest),
            viewer => Viewer::context(viewer),
            package => page,
            readme_html,
            install,
            capabilities,
            reviews,
            mine,
            is_owner,
            chart => chart(&download_stats),
            package_deprecation,
            successor_package,
            deprecated,
            quarantined,
            version_downloads => download_stats.versions,
            recommendations,
            all_yanked,
            lineage_package,
        },
    )?;
    Ok(html(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::{capabilities, is_web_url};

    #[test]
    fn only_web_addresses_are_linked() {
        assert!(is_web_url("https://example.com/x") && is_web_url("HTTP://a"));
        assert!(!is_web_url("javascript:alert(1)") && !is_web_url("data:text/html,x"));
    }

    #[test]
    fn capabilities_not_asked_for_are_left_out() {
        let rows = capabilities(&serde_json::json!({
            "network": ["api.example.com", "b.example"],
            "secrets": [],
            "exclusive": true,
            "storage": false,
        }));
        let shown: Vec<_> = rows
            .iter()
            .map(|row| (row.name.as_str(), row.detail.as_str()))
            .collect();
        assert_eq!(
            shown,
            vec![("exclusive", ""), ("network", "api.example.com, b.example")]
        );
    }
}

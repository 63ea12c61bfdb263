//! The reading pages other than the package page: home, search results and publisher pages.

use http::StatusCode;
use minijinja::context;
use serde::Serialize;
use wharf_storage::{CAPABILITIES, CatalogueQuery, CatalogueSort, KINDS};

use super::response::html;
use super::session::Viewer;
use super::templates::render;
use crate::error::ApiError;
use crate::handlers::catalogue::run_search;
use crate::response::Resp;
use crate::state::AppState;

/// Packages in each list of the home page.
const HOME_LIST: usize = 8;
/// Categories on the home page.
const HOME_CATEGORIES: usize = 12;
/// The search parameters the search form sends.
const SEARCH_FIELDS: [&str; 8] = [
    "q",
    "kind",
    "category",
    "keyword",
    "capability",
    "host",
    "sort",
    "page",
];
/// The sort orders, as the form offers them.
const SORTS: [(&str, &str); 4] = [
    ("relevance", "Relevance"),
    ("downloads", "Downloads"),
    ("recent", "Recently updated"),
    ("rating", "Rating"),
];

/// The home page: a search box, categories, the most downloaded and the latest packages.
pub(crate) async fn home(state: &AppState, viewer: Option<&Viewer>) -> Result<Resp, ApiError> {
    state.catalogue.flush_downloads(&state.storage).await;
    let list = |sort| CatalogueQuery {
        sort,
        limit: Some(HOME_LIST),
        ..CatalogueQuery::default()
    };
    let popular = state
        .storage
        .catalogue_search(list(CatalogueSort::Downloads))
        .await?;
    let recent = state
        .storage
        .catalogue_search(list(CatalogueSort::Recent))
        .await?;
    let categories = state.storage.catalogue_categories(HOME_CATEGORIES).await?;
    let body = render(
        "home.html",
        context! {
            title => "Wharf",
            viewer => Viewer::context(viewer),
            total => popular.total,
            popular => popular.hits,
            recent => recent.hits,
            categories,
            kinds => KINDS,
        },
    )?;
    Ok(html(StatusCode::OK, body))
}

/// One link of the pager.
#[derive(Debug, Serialize)]
struct PageLink {
    label: String,
    href: String,
    current: bool,
}

/// The search form's fields as sent, empty ones left out.
fn search_fields(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, value)| SEARCH_FIELDS.contains(&key.as_ref()) && !value.trim().is_empty())
        .map(|(key, value)| (key.into_owned(), value.trim().to_owned()))
        .collect()
}

/// A search URL with `fields`, at `page`.
fn search_href(fields: &[(String, String)], page: usize) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields.iter().filter(|(key, _)| key != "page") {
        query.append_pair(key, value);
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    format!("/search?{}", query.finish())
}

/// Search results with the filter form filled in as sent, and a pager.
pub(crate) async fn search(
    state: &AppState,
    viewer: Option<&Viewer>,
    query: Option<&str>,
) -> Result<Resp, ApiError> {
    let fields = search_fields(query);
    let api_query = {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &fields {
            serializer.append_pair(key, value);
        }
        serializer.finish()
    };
    let results = run_search(state, Some(&api_query)).await?;
    let per_page = results.per_page.max(1);
    let page_count = usize::try_from(results.total)
        .unwrap_or(usize::MAX)
        .div_ceil(per_page)
        .max(1);
    let first = results.page.saturating_sub(3).max(1);
    let last = (results.page + 3).min(page_count);
    let mut pager: Vec<PageLink> = (first..=last)
        .map(|page| PageLink {
            label: page.to_string(),
            href: search_href(&fields, page),
            current: page == results.page,
        })
        .collect();
    if results.page > 1 {
        pager.insert(
            0,
            PageLink {
                label: "Previous".to_owned(),
                href: search_href(&fields, results.page - 1),
                current: false,
            },
        );
    }
    if results.page < page_count {
        pager.push(PageLink {
            label: "Next".to_owned(),
            href: search_href(&fields, results.page + 1),
            current: false,
        });
    }
    let form: std::collections::BTreeMap<String, String> = fields.into_iter().collect();
    let body = render(
        "search.html",
        context! {
            title => match form.get("q") {
                Some(q) => format!("“{q}” · Wharf search"),
                None => "Search · Wharf".to_owned(),
            },
            viewer => Viewer::context(viewer),
            form,
            total => results.total,
            results => results.results,
            pager,
            kinds => KINDS,
            capabilities => CAPABILITIES,
            sorts => SORTS,
        },
    )?;
    Ok(html(StatusCode::OK, body))
}

/// A publisher's page: the packages the user owns.
pub(crate) async fn publisher(
    state: &AppState,
    viewer: Option<&Viewer>,
    login: &str,
) -> Result<Resp, ApiError> {
    state.catalogue.flush_downloads(&state.storage).await;
    let Some(packages) = state.storage.packages_owned_by(login).await? else {
        return Err(ApiError::not_found(format!(
            "there is no publisher `{login}`; check the spelling of the login"
        )));
    };
    let body = render(
        "publisher.html",
        context! {
            title => format!("{login} · Wharf"),
            viewer => Viewer::context(viewer),
            login,
            packages,
        },
    )?;
    Ok(html(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::{search_fields, search_href};

    #[test]
    fn empty_and_unknown_fields_are_left_out_and_pages_link_back() {
        let fields = search_fields(Some("q=http&kind=&host=&colour=red&page=2"));
        assert_eq!(
            fields,
            vec![("q".into(), "http".into()), ("page".into(), "2".into())]
        );
        assert_eq!(search_href(&fields, 3), "/search?q=http&page=3");
        assert_eq!(search_href(&fields, 1), "/search?q=http");
    }
}

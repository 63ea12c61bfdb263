//! HTML responses with the web UI's security headers, redirects, and error pages.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use super::templates;
use crate::error::ApiError;
use crate::response::{Resp, bytes_response};

/// The Content Security Policy of every page: only this origin's files, no inline script or
/// style, no plugins, no framing, forms post only here.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the headers every web UI response carries.
pub(crate) fn secure(mut response: Resp) -> Resp {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// An HTML page; never cached by shared caches, since it may show the signed-in user.
pub(crate) fn html(status: StatusCode, body: String) -> Resp {
    let mut response = bytes_response(status, "text/html; charset=utf-8", Bytes::from(body));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    secure(response)
}

/// A 303 to `location` (a path of this registry's pages, after a form post), setting the
/// given cookies.
pub(crate) fn see_other(location: &str, cookies: &[String]) -> Result<Resp, ApiError> {
    let mut response = html(StatusCode::SEE_OTHER, String::new());
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("{}{location}", super::base()))
            .map_err(|e| ApiError::internal("building a redirect", &e))?,
    );
    for cookie in cookies {
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_str(cookie)
                .map_err(|e| ApiError::internal("setting a cookie", &e))?,
        );
    }
    Ok(response)
}

/// The HTML page of an error: its status, and its one-line message escaped.
pub(crate) fn error_page(error: &ApiError) -> Resp {
    let status = error.status();
    let context = minijinja::context! {
        title => status.canonical_reason().unwrap_or("Error"),
        status => status.as_u16(),
        message => error.detail(),
        login => status == StatusCode::UNAUTHORIZED,
    };
    match templates::render("error.html", context) {
        Ok(body) => html(status, body),
        Err(_) => html(status, String::from("error")),
    }
}

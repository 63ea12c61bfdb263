//! The web UI over plain HTTP against a real `wharf serve`: every page answers HTML with the
//! strict Content Security Policy and no inline script or style; static files have hashed
//! names, a year of caching and ETags; cargo's paths keep their meaning; signing in makes a
//! `HttpOnly; Secure; SameSite=Strict` session cookie; every form needs its CSRF token;
//! the administrator's page lists hidden reviews and users and no one else may see it.

use reqwest::blocking::Response;
use serde_json::Value;
use wharf_e2e_tests::upload::{crate_tarball, frame, metadata_json};
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::catalogue::{core_registry, get};

/// Publishes crate `name` 1.0.0 whose README is `readme`.
pub(crate) fn publish_crate_with_readme(
    registry: &TestRegistry,
    name: &str,
    readme: &str,
) -> TestResult {
    let mut metadata = metadata_json(name, "1.0.0");
    metadata["readme"] = Value::String(readme.to_owned());
    metadata["description"] = Value::String(format!("The crate {name}"));
    let body = frame(
        &serde_json::to_vec(&metadata)?,
        &crate_tarball(name, "1.0.0"),
    );
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(body)
        .send()?;
    assert!(response.status().is_success(), "{}", response.text()?);
    Ok(())
}

/// A signed-in browser, as plain HTTP sees it.
pub(crate) struct Session {
    /// The `wharf_session=ID` pair to send back.
    pub(crate) cookie: String,
}

/// The value of the hidden `csrf` field in `page`.
pub(crate) fn csrf_field(page: &str) -> TestResult<String> {
    let start = page
        .find("name=\"csrf\" value=\"")
        .ok_or("the page has no csrf field")?
        + "name=\"csrf\" value=\"".len();
    let end = page[start..].find('"').ok_or("unterminated csrf value")?;
    Ok(page[start..start + end].to_owned())
}

/// The `name=value` of the cookie `name` a response sets, and its whole `Set-Cookie` line.
pub(crate) fn set_cookie(response: &Response, name: &str) -> TestResult<(String, String)> {
    let line = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .ok_or_else(|| format!("no {name} cookie set"))?;
    let pair = line.split(';').next().unwrap_or_default().to_owned();
    Ok((pair, line.to_owned()))
}

pub(crate) fn page(
    registry: &TestRegistry,
    path: &str,
    cookie: Option<&str>,
) -> TestResult<(u16, String)> {
    let mut request = registry.http().get(format!("{}{path}", registry.url()));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let response = request.send()?;
    let status = response.status().as_u16();
    Ok((status, response.text()?))
}

pub(crate) fn post(
    registry: &TestRegistry,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> TestResult<Response> {
    let client = wharf_e2e_tests::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let body: String = form_urlencoded_pairs(form);
    Ok(client
        .post(format!("{}{path}", registry.url()))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()?)
}

fn form_urlencoded_pairs(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(key, value)| {
            let value: String = value
                .bytes()
                .map(|byte| match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        char::from(byte).to_string()
                    }
                    other => format!("%{other:02X}"),
                })
                .collect();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs in with `token` through the login form.
pub(crate) fn sign_in(registry: &TestRegistry, token: &str) -> TestResult<Session> {
    sign_in_under(registry, "", token)
}

/// Signs in with `token` through the login form of the pages under `base` (`/t/acme`, or
/// empty for the default registry); the cookies are scoped to `base`.
pub(crate) fn sign_in_under(
    registry: &TestRegistry,
    base: &str,
    token: &str,
) -> TestResult<Session> {
    let response = registry
        .http()
        .get(format!("{}{base}/login", registry.url()))
        .send()?;
    let (login_cookie, line) = set_cookie(&response, "wharf_login")?;
    assert!(
        line.contains(&format!("HttpOnly; Secure; SameSite=Strict; Path={base}/;")),
        "{line}"
    );
    let csrf = csrf_field(&response.text()?)?;
    let answer = post(
        registry,
        &format!("{base}/login"),
        &login_cookie,
        &[("csrf", &csrf), ("token", token)],
    )?;
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.headers()["location"],
        format!("{base}/account").as_str()
    );
    let (cookie, line) = set_cookie(&answer, "wharf_session")?;
    assert!(
        line.ends_with(&format!(
            "; HttpOnly; Secure; SameSite=Strict; Path={base}/; Max-Age=43200"
        )),
        "{line}"
    );
    Ok(Session { cookie })
}

#[test]
fn pages_are_html_under_a_strict_policy_and_cargo_paths_are_unchanged() -> TestResult {
    let registry = core_registry()?;
    publish_crate_with_readme(&registry, "readme-crate", "# Hello\n\nSome *text*.\n")?;
    for path in [
        "/",
        "/search?q=http&kind=plugin&sort=downloads",
        "/search?host=2.0.0",
        "/packages/http-client",
        "/packages/readme-crate",
        "/publishers/admin",
        "/login",
    ] {
        let response = registry
            .http()
            .get(format!("{}{path}", registry.url()))
            .send()?;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{path}"
        );
        let policy = headers["content-security-policy"].to_str()?;
        assert!(
            policy.starts_with("default-src 'self'; script-src 'self'; style-src 'self'"),
            "{policy}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let html = response.text()?;
        assert!(html.starts_with("<!doctype html>"), "{path}");
        assert!(!html.contains("<script>"), "{path}: an inline script");
        assert!(!html.contains("<style"), "{path}: an inline style");
        assert!(!html.contains(" style=\""), "{path}: a style attribute");
        for handler in [" onclick=", " onerror=", " onload=", " onmouseover="] {
            assert!(
                !html.contains(handler),
                "{path}: an event attribute {handler}"
            );
        }
    }
    let (_, home) = page(&registry, "/", None)?;
    assert!(
        home.contains("<a href=\"/packages/http-client\">http-client</a>"),
        "{home}"
    );
    let (_, readme) = page(&registry, "/packages/readme-crate", None)?;
    assert!(
        readme.contains("<h1>Hello</h1>") && readme.contains("<em>text</em>"),
        "{readme}"
    );
    let (_, filtered) = page(&registry, "/search?host=2.0.0", None)?;
    assert!(filtered.contains("compatible ("), "{filtered}");
    // A bad filter is a 400 page naming it, not a crash.
    let (status, bad) = page(&registry, "/search?host=two", None)?;
    assert_eq!(status, 400);
    assert!(
        bad.contains("`host=two` is not a host API version"),
        "{bad}"
    );
    let (status, missing) = page(&registry, "/packages/no-such-thing", None)?;
    assert_eq!(status, 404);
    assert!(missing.contains("no-such-thing"), "{missing}");
    // Cargo's and the API's paths are untouched.
    let config: Value = registry
        .http()
        .get(format!("{}/index/config.json", registry.url()))
        .send()?
        .json()?;
    assert!(config["dl"].is_string(), "{config}");
    get(&registry, "search?q=http", 200)?;
    Ok(())
}

#[test]
fn static_files_have_hashed_names_long_caching_and_etags() -> TestResult {
    let registry = TestRegistry::start();
    let (_, home) = page(&registry, "/", None)?;
    for (marker, content_type) in [
        (".css\"", "text/css; charset=utf-8"),
        (".js\"", "text/javascript; charset=utf-8"),
    ] {
        let end = home.find(marker).ok_or(marker)? + marker.len() - 1;
        let start = home[..end].rfind("\"/static/").ok_or("static path")? + 1;
        let path = &home[start..end];
        let response = registry
            .http()
            .get(format!("{}{path}", registry.url()))
            .send()?;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let etag = response.headers()["etag"].to_str()?.to_owned();
        let again = registry
            .http()
            .get(format!("{}{path}", registry.url()))
            .header("If-None-Match", &etag)
            .send()?;
        assert_eq!(again.status(), 304, "{path}");
    }
    let (status, _) = page(&registry, "/static/wharf.0000000000000000.css", None)?;
    assert_eq!(status, 404);
    Ok(())
}

#[test]
fn signing_in_reviewing_and_every_form_needs_its_csrf_token() -> TestResult {
    let registry = core_registry()?;
    let token = registry.create_token("bob", &["publish-update"]);
    // Without a session, the login form's own token is checked first.
    let refused = post(&registry, "/login", "", &[("token", &token)])?;
    assert_eq!(refused.status(), 403);
    assert!(refused.text()?.contains("it carries no CSRF token"));
    // A wrong API token is a 401 with the form again.
    let response = registry
        .http()
        .get(format!("{}/login", registry.url()))
        .send()?;
    let (login_cookie, _) = set_cookie(&response, "wharf_login")?;
    let csrf = csrf_field(&response.text()?)?;
    let wrong = post(
        &registry,
        "/login",
        &login_cookie,
        &[("csrf", &csrf), ("token", "wharf_nope")],
    )?;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text()?.contains("that token was not accepted"));

    let session = sign_in(&registry, &token)?;
    let (status, account) = page(&registry, "/account", Some(&session.cookie))?;
    assert_eq!(status, 200);
    assert!(account.contains("Your account: bob"), "{account}");
    assert!(
        account.contains("this session"),
        "the token in use is marked: {account}"
    );
    assert!(!account.contains(&token), "the token secret is never shown");
    let (_, package) = page(&registry, "/packages/http-client", Some(&session.cookie))?;
    let csrf = csrf_field(&package)?;

    registry.settle();
    let before = registry.data_snapshot();
    for form in [
        vec![("rating", "3")],
        vec![("rating", "3"), ("csrf", "not-the-token")],
    ] {
        let refused = post(
            &registry,
            "/packages/http-client/review",
            &session.cookie,
            &form,
        )?;
        assert_eq!(refused.status(), 403, "{form:?}");
    }
    let refused = post(&registry, "/logout", &session.cookie, &[])?;
    assert_eq!(refused.status(), 403);
    let bad = post(
        &registry,
        "/packages/http-client/review",
        &session.cookie,
        &[("csrf", &csrf), ("rating", "9")],
    )?;
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text()?
            .contains("the rating `9` is not a whole number from 1 to 5")
    );
    assert!(
        registry.data_snapshot() == before,
        "refused forms changed data"
    );

    let saved = post(
        &registry,
        "/packages/http-client/review",
        &session.cookie,
        &[
            ("csrf", &csrf),
            ("rating", "3"),
            ("body", "Fine <i>enough</i>"),
            ("version", "1.4.0"),
        ],
    )?;
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()["location"], "/packages/http-client#reviews");
    let reviews = get(&registry, "packages/http-client/reviews", 200)?;
    assert_eq!(reviews[0]["author"], "bob");
    assert_eq!(reviews[0]["version"], "1.4.0");
    assert_eq!(reviews[0]["body"], "Fine <i>enough</i>");
    let (_, shown) = page(&registry, "/packages/http-client", Some(&session.cookie))?;
    assert!(
        shown.contains("Fine &lt;i&gt;enough&lt;&#x2f;i&gt;"),
        "escaped: {shown}"
    );

    // Bob may not see the administration page; signing out ends the session.
    let (status, _) = page(&registry, "/admin", Some(&session.cookie))?;
    assert_eq!(status, 403);
    let out = post(&registry, "/logout", &session.cookie, &[("csrf", &csrf)])?;
    assert_eq!(out.status(), 303);
    let (status, _) = page(&registry, "/account", Some(&session.cookie))?;
    assert_eq!(status, 401);
    Ok(())
}

#[test]
fn the_administrator_hides_a_review_and_sees_it_with_users() -> TestResult {
    let registry = core_registry()?;
    let token = registry.create_token("carol", &["publish-update"]);
    let carol = sign_in(&registry, &token)?;
    let (_, package) = page(&registry, "/packages/email", Some(&carol.cookie))?;
    let csrf = csrf_field(&package)?;
    let saved = post(
        &registry,
        "/packages/email/review",
        &carol.cookie,
        &[("csrf", &csrf), ("rating", "1"), ("body", "spam spam")],
    )?;
    assert_eq!(saved.status(), 303);
    let id = get(&registry, "packages/email/reviews", 200)?[0]["id"]
        .as_i64()
        .ok_or("id")?;

    let admin = sign_in(&registry, &registry.admin_token)?;
    let (_, package) = page(&registry, "/packages/email", Some(&admin.cookie))?;
    let csrf = csrf_field(&package)?;
    let hidden = post(
        &registry,
        &format!("/packages/email/reviews/{id}/hide"),
        &admin.cookie,
        &[("csrf", &csrf), ("reason", "advertising")],
    )?;
    assert_eq!(hidden.status(), 303);
    let (status, admin_page) = page(&registry, "/admin", Some(&admin.cookie))?;
    assert_eq!(status, 200);
    assert!(admin_page.contains("spam spam"), "{admin_page}");
    assert!(admin_page.contains(": advertising</p>"), "{admin_page}");
    assert!(
        admin_page.contains("<a href=\"/publishers/carol\">carol</a>"),
        "{admin_page}"
    );
    // The review is gone from everyone else's view.
    let (_, public) = page(&registry, "/packages/email", None)?;
    assert!(!public.contains("spam spam"));
    Ok(())
}

#[test]
fn with_auth_required_pages_need_a_signed_in_reader() -> TestResult {
    let registry = TestRegistry::start_with(&["--auth-required"]);
    let (status, page_text) = page(&registry, "/", None)?;
    assert_eq!(status, 401);
    assert!(
        page_text.contains("this registry requires signing in"),
        "{page_text}"
    );
    assert!(
        page_text.contains("<a href=\"/login\">Sign in</a>"),
        "{page_text}"
    );
    // The login form itself stays reachable.
    let (status, _) = page(&registry, "/login", None)?;
    assert_eq!(status, 200);
    // A token without the `read` scope may not read.
    let writer = registry.create_token("dave", &["publish-update"]);
    let dave = sign_in(&registry, &writer)?;
    let (status, refused) = page(&registry, "/", Some(&dave.cookie))?;
    assert_eq!(status, 403, "{refused}");
    let reader = registry.create_token("erin", &["read"]);
    let erin = sign_in(&registry, &reader)?;
    let (status, home) = page(&registry, "/", Some(&erin.cookie))?;
    assert_eq!(status, 200);
    assert!(home.contains("<a href=\"/account\">erin</a>"), "{home}");
    Ok(())
}

#[test]
fn deprecated_and_quarantined_versions_are_marked_on_the_package_page() -> TestResult {
    let registry = core_registry()?;
    let api = |method: reqwest::Method, path: &str, body: &str| -> TestResult {
        let response = registry
            .http()
            .request(
                method,
                format!("{}/api/wharf/v1/packages/{path}", registry.url()),
            )
            .header("Authorization", &registry.admin_token)
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()?;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.text()?
        );
        Ok(())
    };
    api(
        reqwest::Method::PUT,
        "email/deprecation",
        r#"{"message":"Replaced by <notifications>","successor":"notifications"}"#,
    )?;
    api(
        reqwest::Method::PUT,
        "email/1.4.0/quarantine",
        r#"{"reason":"under review"}"#,
    )?;
    let (status, html) = page(&registry, "/packages/email", None)?;
    assert_eq!(status, 200);
    assert!(
        html.contains("Deprecated: Replaced by &lt;notifications&gt;"),
        "{html}"
    );
    assert!(
        html.contains("Use <a href=\"/packages/notifications\">notifications</a> instead."),
        "{html}"
    );
    assert!(
        html.contains("title=\"under review\">quarantined</span>"),
        "{html}"
    );
    Ok(())
}

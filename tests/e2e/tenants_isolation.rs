//! Isolation between tenants: another tenant's token, the default registry's token and no
//! token get, on every endpoint of an `auth-required` tenant, the answer a package that does
//! not exist gets, and the answer a tenant that does not exist gets. Within a tenant, another
//! tenant's blobs and names are as absent as names nobody published. The same holds for the
//! web UI's pages under `/t/{tenant}/`: another tenant's session, the default registry's or
//! none sees on every page what a name that is no tenant shows, a tenant's own session sees
//! its own packages with every link and form under its prefix, and a suspended tenant's
//! pages answer 403 naming it.

use reqwest::Method;
use sha2::{Digest, Sha256};
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::tenants::{create_tenant, tenant_token, wait_for_tenant};
use crate::web_pages::{csrf_field, page, post, sign_in, sign_in_under};

/// The published package and a name nobody published (same length, same index prefix).
const SECRET: &str = "secret-lib";
const MISSING: &str = "secret-zzz";
/// A SHA-256 no blob has.
const NO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One request: method, path within a registry (`{name}` and `{hash}` filled in), body.
struct Endpoint {
    method: Method,
    path: &'static str,
    body: Option<fn(&str) -> Vec<u8>>,
}

const fn get(path: &'static str) -> Endpoint {
    Endpoint {
        method: Method::GET,
        path,
        body: None,
    }
}

/// Every endpoint a registry serves, reads and writes.
fn endpoints() -> Vec<Endpoint> {
    vec![
        get("/index/config.json"),
        get("/index/se/cr/{name}"),
        get("/index/.wharf/timestamp"),
        get("/blobs/sha256/{hash}"),
        get("/api/v1/crates?q={name}"),
        get("/api/v1/crates/{name}/1.0.0/download"),
        get("/api/v1/crates/{name}/owners"),
        get("/api/wharf/v1/catalogue/search?q={name}"),
        get("/api/wharf/v1/catalogue/packages/{name}"),
        get("/api/wharf/v1/catalogue/packages/{name}/downloads"),
        get("/api/wharf/v1/plugins/{name}"),
        get("/api/wharf/v1/keys"),
        get("/api/wharf/v1/log/checkpoint"),
        get("/api/wharf/v1/entitlements"),
        get("/me"),
        get("/metrics"),
        Endpoint {
            method: Method::DELETE,
            path: "/api/v1/crates/{name}/1.0.0/yank",
            body: None,
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/crates/{name}/owners",
            body: Some(|_| br#"{"users":["mallory"]}"#.to_vec()),
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/crates/new",
            body: Some(|name| publish_body(name, "9.0.0")),
        },
    ]
}

/// What a client sees of an answer: status, login challenge, body.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    challenge: String,
    body: String,
}

/// Sends `endpoint` to tenant `tenant` for package `name` (blob `hash`) with `token`.
fn ask(
    registry: &TestRegistry,
    tenant: &str,
    endpoint: &Endpoint,
    name: &str,
    hash: &str,
    token: Option<&str>,
) -> TestResult<Answer> {
    let path = endpoint
        .path
        .replace("{name}", name)
        .replace("{hash}", hash);
    let mut request = registry.http().request(
        endpoint.method.clone(),
        format!("{}/t/{tenant}{path}", registry.url()),
    );
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    if let Some(body) = endpoint.body {
        request = request.body(body(name));
    }
    let response = request.send()?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    Ok(Answer {
        status,
        challenge,
        body: response.text()?,
    })
}

/// The answer with the names a caller chose replaced, so answers to different names compare.
fn normalised(answer: Answer, replace: &[(&str, &str)]) -> Answer {
    let fix = |text: String| {
        replace
            .iter()
            .fold(text, |text, (from, to)| text.replace(from, to))
    };
    Answer {
        status: answer.status,
        challenge: fix(answer.challenge),
        body: fix(answer.body),
    }
}

/// The published package's SHA-256, read from its index entry with a token of its tenant.
fn published_hash(registry: &TestRegistry, tenant: &str, token: &str) -> TestResult<String> {
    let entry = registry
        .http()
        .get(format!(
            "{}/t/{tenant}/index/se/cr/{SECRET}",
            registry.url()
        ))
        .header("Authorization", token)
        .send()?
        .text()?;
    let line: serde_json::Value = serde_json::from_str(entry.lines().next().unwrap_or_default())?;
    Ok(line["cksum"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn foreign_tokens_get_the_answer_of_a_name_that_does_not_exist() -> TestResult {
    foreign_tokens_answer_as_names_that_do_not_exist(&TestRegistry::start())
}

/// The same on a registry whose metadata is in PostgreSQL, where each tenant (and the empty
/// registry answering unknown names) has a database of its own on the same server.
#[test]
fn foreign_tokens_get_the_answer_of_a_name_that_does_not_exist_on_postgres() -> TestResult {
    let registry = TestRegistry::start_on_postgres_and_s3();
    foreign_tokens_answer_as_names_that_do_not_exist(&registry)?;
    let database_of = |dir: &str| {
        std::fs::read_to_string(
            registry
                .data_dir()
                .join("tenants")
                .join(dir)
                .join("database"),
        )
    };
    assert!(database_of("acme")?.trim().ends_with("/wharf_t_acme"));
    assert!(database_of("beta")?.trim().ends_with("/wharf_t_beta"));
    assert!(database_of(".void")?.trim().ends_with("/wharf_void"));
    Ok(())
}

/// Publishes to tenant `acme` and downloads it with its token, then asks every endpoint of
/// `acme` with tenant `beta`'s token, the default registry's and none.
fn foreign_tokens_answer_as_names_that_do_not_exist(registry: &TestRegistry) -> TestResult {
    create_tenant(registry, "acme", &["--auth-required"]);
    create_tenant(registry, "beta", &["--auth-required"]);
    let alice = tenant_token(registry, "acme", "alice");
    let bob = tenant_token(registry, "beta", "bob");
    wait_for_tenant(registry, "acme", &alice, 200)?;
    wait_for_tenant(registry, "beta", &bob, 200)?;
    let published = registry
        .http()
        .put(format!("{}/t/acme/api/v1/crates/new", registry.url()))
        .header("Authorization", &alice)
        .body(publish_body(SECRET, "1.0.0"))
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    let hash = published_hash(registry, "acme", &alice)?;
    assert_eq!(hash.len(), 64, "{hash}");
    let downloaded = registry
        .http()
        .get(format!(
            "{}/t/acme/api/v1/crates/{SECRET}/1.0.0/download",
            registry.url()
        ))
        .header("Authorization", &alice)
        .send()?;
    assert_eq!(downloaded.status(), 200);
    assert_eq!(hex::encode(Sha256::digest(downloaded.bytes()?)), hash);
    let before = registry
        .http()
        .get(format!("{}/t/acme/index/se/cr/{SECRET}", registry.url()))
        .header("Authorization", &alice)
        .send()?
        .text()?;

    let admin = registry.admin_token.clone();
    for token in [Some(bob.as_str()), Some(admin.as_str()), None] {
        for endpoint in endpoints() {
            let what = format!("{} {} with {token:?}", endpoint.method, endpoint.path);
            let existing = ask(registry, "acme", &endpoint, SECRET, &hash, token)?;
            let missing = normalised(
                ask(registry, "acme", &endpoint, MISSING, NO_HASH, token)?,
                &[(MISSING, SECRET), (NO_HASH, &hash)],
            );
            let no_tenant = normalised(
                ask(registry, "nosuch", &endpoint, SECRET, &hash, token)?,
                &[("nosuch", "acme")],
            );
            assert_eq!(existing.status, 401, "{what}: {existing:?}");
            assert_eq!(existing, missing, "{what}: existing vs missing package");
            assert_eq!(existing, no_tenant, "{what}: tenant vs no tenant");
            assert!(!existing.body.contains(&hash), "{what}: {existing:?}");
        }
    }
    // Nothing the refused writes asked for happened.
    let after = registry
        .http()
        .get(format!("{}/t/acme/index/se/cr/{SECRET}", registry.url()))
        .header("Authorization", &alice)
        .send()?
        .text()?;
    assert_eq!(before, after);

    // In its own tenant, bob finds acme's blob and name exactly as absent as made-up ones.
    // (Publishing is bob's right there, so it is left out.)
    for endpoint in endpoints().into_iter().filter(|e| e.body.is_none()) {
        let what = format!("{} {} on beta", endpoint.method, endpoint.path);
        let theirs = ask(registry, "beta", &endpoint, SECRET, &hash, Some(&bob))?;
        let made_up = normalised(
            ask(registry, "beta", &endpoint, MISSING, NO_HASH, Some(&bob))?,
            &[(MISSING, SECRET), (NO_HASH, &hash)],
        );
        if endpoint.path.contains("{name}") || endpoint.path.contains("{hash}") {
            assert_eq!(theirs.status, made_up.status, "{what}: {theirs:?}");
            assert_eq!(theirs.body, made_up.body, "{what}");
        }
        assert!(
            theirs.status != 200 || !theirs.body.contains(&hash),
            "{what}"
        );
    }
    Ok(())
}

/// The web UI's pages, `{name}` filled in.
const PAGES: [&str; 6] = [
    "/",
    "/search?q={name}",
    "/packages/{name}",
    "/publishers/alice",
    "/account",
    "/admin",
];

/// A page's answer with the login form's random CSRF value (when there is one) and the names
/// in `replace` made alike.
fn page_answer(
    registry: &TestRegistry,
    path: &str,
    cookie: Option<&str>,
    replace: &[(&str, &str)],
) -> TestResult<(u16, String)> {
    let (status, mut body) = page(registry, path, cookie)?;
    if let Ok(csrf) = csrf_field(&body) {
        body = body.replace(&csrf, "CSRF");
    }
    for (from, to) in replace {
        body = body.replace(from, to);
    }
    Ok((status, body))
}

/// Every `href="/…"` and `action="/…"` of `html` is under `base` or a static file, and
/// there are such links.
fn links_stay_under(html: &str, base: &str) -> bool {
    html.contains(&format!("href=\"{base}/"))
        && ["href=\"/", "action=\"/", "href=\"&"]
            .iter()
            .all(|attribute| {
                html.match_indices(attribute).all(|(at, _)| {
                    let rest = &html[at + attribute.len() - 1..];
                    rest.starts_with(&format!("{base}/")) || rest.starts_with("/static/")
                })
            })
}

#[test]
#[allow(clippy::too_many_lines)] // three tenants, three kinds of visitor, every page
fn tenant_pages_show_only_their_tenant_and_foreign_sessions_see_no_tenant() -> TestResult {
    let registry = TestRegistry::start();
    create_tenant(&registry, "acme", &["--auth-required"]);
    create_tenant(&registry, "beta", &["--auth-required"]);
    create_tenant(&registry, "shop", &[]);
    let alice = tenant_token(&registry, "acme", "alice");
    let bob = tenant_token(&registry, "beta", "bob");
    let carol = tenant_token(&registry, "shop", "carol");
    wait_for_tenant(&registry, "acme", &alice, 200)?;
    wait_for_tenant(&registry, "beta", &bob, 200)?;
    wait_for_tenant(&registry, "shop", &carol, 200)?;
    for (tenant, token, name) in [("acme", &alice, SECRET), ("shop", &carol, "shop-lib")] {
        let published = registry
            .http()
            .put(format!("{}/t/{tenant}/api/v1/crates/new", registry.url()))
            .header("Authorization", token)
            .body(publish_body(name, "1.0.0"))
            .send()?;
        assert_eq!(published.status(), 200, "{}", published.text()?);
    }

    // Alice's own session sees acme's package, its usage, and links only under /t/acme/.
    let own = sign_in_under(&registry, "/t/acme", &alice)?;
    for path in [
        "/",
        &format!("/search?q={SECRET}"),
        &format!("/packages/{SECRET}"),
    ] {
        let (status, html) = page(&registry, &format!("/t/acme{path}"), Some(&own.cookie))?;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.contains(SECRET), "{path}: {html}");
        assert!(links_stay_under(&html, "/t/acme"), "{path}: {html}");
    }
    let (status, account) = page(&registry, "/t/acme/account", Some(&own.cookie))?;
    assert_eq!(status, 200, "{account}");
    assert!(account.contains("This registry's usage"), "{account}");
    assert!(links_stay_under(&account, "/t/acme"), "{account}");
    // The default registry's pages know nothing of it.
    let (_, default_search) = page(&registry, &format!("/search?q={SECRET}"), None)?;
    assert!(
        !default_search.contains(&format!("/packages/{SECRET}")),
        "{default_search}"
    );

    // Another tenant's session, the default registry's, none: every acme page answers as
    // for a name nobody published and as a tenant that does not exist.
    let beta = sign_in_under(&registry, "/t/beta", &bob)?;
    let default = sign_in(&registry, &registry.admin_token)?;
    for cookie in [
        Some(beta.cookie.as_str()),
        Some(default.cookie.as_str()),
        None,
    ] {
        for template in PAGES.iter().chain(&["/login"]) {
            let what = format!("{template} with {cookie:?}");
            let existing = page_answer(
                &registry,
                &format!("/t/acme{}", template.replace("{name}", SECRET)),
                cookie,
                &[],
            )?;
            let missing = page_answer(
                &registry,
                &format!("/t/acme{}", template.replace("{name}", MISSING)),
                cookie,
                &[(MISSING, SECRET)],
            )?;
            let no_tenant = page_answer(
                &registry,
                &format!("/t/nosuch{}", template.replace("{name}", SECRET)),
                cookie,
                &[("nosuch", "acme")],
            )?;
            if *template != "/login" {
                assert_eq!(existing.0, 401, "{what}: {}", existing.1);
            }
            assert_eq!(existing, missing, "{what}: existing vs missing package");
            assert_eq!(existing, no_tenant, "{what}: tenant vs no tenant");
            assert!(links_stay_under(&existing.1, "/t/acme"), "{what}");
        }
    }
    // Signing in to acme with beta's token fails as it does for a tenant that does not exist.
    let refused_login = |base: &str| -> TestResult<(u16, String)> {
        let form = registry
            .http()
            .get(format!("{}{base}/login", registry.url()))
            .send()?;
        let cookie = form
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with("wharf_login="))
            .and_then(|value| value.split(';').next())
            .ok_or("no login cookie")?
            .to_owned();
        let csrf = csrf_field(&form.text()?)?;
        let answer = post(
            &registry,
            &format!("{base}/login"),
            &cookie,
            &[("csrf", &csrf), ("token", &bob)],
        )?;
        let status = answer.status().as_u16();
        let body = answer.text()?;
        let body = match csrf_field(&body) {
            Ok(fresh) => body.replace(&fresh, "CSRF"),
            Err(_) => body,
        };
        Ok((status, body.replace("nosuch", "acme")))
    };
    let at_acme = refused_login("/t/acme")?;
    assert_eq!(at_acme.0, 401, "{}", at_acme.1);
    assert_eq!(at_acme, refused_login("/t/nosuch")?);

    // A public tenant's pages are public, and another tenant's names are absent there too.
    let (status, shop_page) = page(&registry, "/t/shop/packages/shop-lib", None)?;
    assert_eq!(status, 200, "{shop_page}");
    assert!(links_stay_under(&shop_page, "/t/shop"), "{shop_page}");
    let theirs = page_answer(&registry, &format!("/t/shop/packages/{SECRET}"), None, &[])?;
    let made_up = page_answer(
        &registry,
        &format!("/t/shop/packages/{MISSING}"),
        None,
        &[(MISSING, SECRET)],
    )?;
    assert_eq!(theirs.0, 404, "{}", theirs.1);
    assert_eq!(theirs, made_up);

    // A suspended tenant's pages answer 403 with the message naming it.
    let suspended = registry.run_on_data(&["tenant", "suspend"], &["shop", "--reason", "unpaid"]);
    assert!(suspended.status.success());
    wait_for_tenant(&registry, "shop", &carol, 403)?;
    for path in ["/", "/packages/shop-lib", "/login"] {
        let (status, html) = page(&registry, &format!("/t/shop{path}"), None)?;
        assert_eq!(status, 403, "{path}: {html}");
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(html.contains("tenant `shop` is suspended"), "{html}");
        assert!(!html.contains("unpaid"), "{html}");
    }
    Ok(())
}

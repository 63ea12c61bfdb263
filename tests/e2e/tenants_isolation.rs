//! Isolation between tenants: another tenant's token, the default registry's token and no
//! token get, on every endpoint of an `auth-required` tenant, the answer a package that does
//! not exist gets, and the answer a tenant that does not exist gets. Within a tenant, another
//! tenant's blobs and names are as absent as names nobody published.

use reqwest::Method;
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::tenants::{create_tenant, tenant_token, wait_for_tenant};

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
    let registry = TestRegistry::start();
    create_tenant(&registry, "acme", &["--auth-required"]);
    create_tenant(&registry, "beta", &["--auth-required"]);
    let alice = tenant_token(&registry, "acme", "alice");
    let bob = tenant_token(&registry, "beta", "bob");
    wait_for_tenant(&registry, "acme", &alice, 200)?;
    wait_for_tenant(&registry, "beta", &bob, 200)?;
    let published = registry
        .http()
        .put(format!("{}/t/acme/api/v1/crates/new", registry.url()))
        .header("Authorization", &alice)
        .body(publish_body(SECRET, "1.0.0"))
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    let hash = published_hash(&registry, "acme", &alice)?;
    assert_eq!(hash.len(), 64, "{hash}");
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
            let existing = ask(&registry, "acme", &endpoint, SECRET, &hash, token)?;
            let missing = normalised(
                ask(&registry, "acme", &endpoint, MISSING, NO_HASH, token)?,
                &[(MISSING, SECRET), (NO_HASH, &hash)],
            );
            let no_tenant = normalised(
                ask(&registry, "nosuch", &endpoint, SECRET, &hash, token)?,
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
        let theirs = ask(&registry, "beta", &endpoint, SECRET, &hash, Some(&bob))?;
        let made_up = normalised(
            ask(&registry, "beta", &endpoint, MISSING, NO_HASH, Some(&bob))?,
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

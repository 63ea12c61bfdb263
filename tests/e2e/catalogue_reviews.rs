//! Ratings and reviews over real HTTP against a real `wharf serve`: one editable review per
//! user with the version it was written for, "verified install" after a real blob download
//! with the reviewer's token, the owner's reply, reports, the administrator's hide with a
//! logged reason, and every refusal answered with its status and one message while the data
//! directory stays exactly as it was.

use reqwest::blocking::Response;
use serde_json::{Value, json};
use wharf_e2e_tests::core_plugins::core_plugin_dir;
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::catalogue::{get, publish_plugin};

const REVIEWS: &str = "packages/http-client/reviews";

fn send(
    registry: &TestRegistry,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> TestResult<Response> {
    let mut request = registry
        .http()
        .request(
            method,
            format!("{}/api/wharf/v1/catalogue/{path}", registry.url()),
        )
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    Ok(request.send()?)
}

/// Sends and expects `status`; returns the JSON answer.
fn expect(
    registry: &TestRegistry,
    method: &reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
    status: u16,
) -> TestResult<Value> {
    let response = send(registry, method.clone(), path, token, body)?;
    let code = response.status().as_u16();
    let text = response.text()?;
    assert_eq!(code, status, "{method} {path} {body}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// Expects a refusal with `status` whose one message contains `needle`, and that nothing in
/// the data directory changed.
fn refused(
    registry: &TestRegistry,
    method: &reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
    (status, needle): (u16, &str),
) -> TestResult {
    let before = registry.data_snapshot();
    let answer = expect(registry, method, path, token, body, status)?;
    let errors = answer["errors"].as_array().ok_or("errors")?;
    assert_eq!(errors.len(), 1, "{answer}");
    let detail = errors[0]["detail"].as_str().ok_or("detail")?;
    assert!(detail.contains(needle), "`{needle}` not in `{detail}`");
    assert!(!detail.contains('\n'), "more than one line: {detail}");
    assert!(
        registry.data_snapshot() == before,
        "a refused request ({detail}) changed the data directory"
    );
    Ok(())
}

/// Downloads http-client 2.0.0's blob with `token`.
fn download_with(registry: &TestRegistry, token: &str) -> TestResult {
    let index = registry
        .http()
        .get(format!("{}/index/ht/tp/http-client", registry.url()))
        .send()?
        .text()?;
    let last: Value = serde_json::from_str(index.lines().last().ok_or("a line")?)?;
    let cksum = last["cksum"].as_str().ok_or("cksum")?;
    let response = registry
        .http()
        .get(format!("{}/blobs/sha256/{cksum}", registry.url()))
        .header("Authorization", token)
        .send()?;
    assert_eq!(response.status(), 200);
    Ok(())
}

#[test]
#[allow(clippy::too_many_lines)] // one registry: each review action in turn, then every refusal
fn reviews_are_one_per_user_editable_verified_replied_reported_and_hidden() -> TestResult {
    use reqwest::Method;
    let registry = TestRegistry::start();
    for version in ["1.4.0", "2.0.0"] {
        publish_plugin(&registry, &core_plugin_dir("http-client", version))?;
    }
    let admin = registry.admin_token.clone();
    let alice = registry.create_token("alice", &["read"]);
    let bob = registry.create_token("bob", &["read"]);
    download_with(&registry, &alice)?;

    let first = expect(
        &registry,
        &Method::PUT,
        REVIEWS,
        Some(&alice),
        &json!({"rating": 4, "body": "Solid client.", "version": "1.4.0"}),
        200,
    )?;
    assert_eq!(first["version"], "1.4.0");
    assert_eq!(first["author"], "alice");
    // The download is flushed before the review is read back, so it counts.
    let listed = get(&registry, REVIEWS, 200)?;
    assert_eq!(listed[0]["verified_install"], true, "{listed}");
    let edited = expect(
        &registry,
        &Method::PUT,
        REVIEWS,
        Some(&alice),
        &json!({"rating": 5, "body": "Even better in 2.0."}),
        200,
    )?;
    assert_eq!(edited["id"], first["id"], "an edit keeps the review");
    assert_eq!(
        (edited["rating"].clone(), edited["version"].clone()),
        (json!(5), json!("2.0.0"))
    );
    let by_bob = expect(
        &registry,
        &Method::PUT,
        REVIEWS,
        Some(&bob),
        &json!({"rating": 2}),
        200,
    )?;
    assert_eq!(by_bob["verified_install"], false);
    assert_eq!(by_bob["body"], Value::Null);
    let listed = get(&registry, REVIEWS, 200)?;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    let page = get(&registry, "packages/http-client", 200)?;
    assert_eq!(page["rating"], json!({"average": 3.5, "count": 2}));

    let alice_id = first["id"].as_i64().ok_or("id")?;
    let reply = format!("{REVIEWS}/{alice_id}/reply");
    let replied = expect(
        &registry,
        &Method::POST,
        &reply,
        Some(&admin),
        &json!({"body": "Thank you!"}),
        200,
    )?;
    assert_eq!(replied["reply"]["author"], "admin");
    assert_eq!(replied["reply"]["body"], "Thank you!");
    let report = format!("{REVIEWS}/{alice_id}/report");
    expect(
        &registry,
        &Method::POST,
        &report,
        Some(&bob),
        &json!({"reason": "spam"}),
        200,
    )?;

    // Refusals: status, one message, nothing changed.
    let long = "x".repeat(5_001);
    for (method, path, token, body, answer) in [
        (
            Method::PUT,
            REVIEWS,
            Some(&bob),
            json!({"rating": 0}),
            (400, "`rating` is 0"),
        ),
        (
            Method::PUT,
            REVIEWS,
            Some(&bob),
            json!({"rating": 6}),
            (400, "rate from 1 to 5"),
        ),
        (
            Method::PUT,
            REVIEWS,
            Some(&bob),
            json!({"rating": 3, "body": long}),
            (400, "the limit is 5000"),
        ),
        (
            Method::PUT,
            REVIEWS,
            Some(&bob),
            json!({"rating": 3, "body": "  "}),
            (400, "`body` is empty"),
        ),
        (
            Method::PUT,
            REVIEWS,
            Some(&bob),
            json!({"rating": 3, "version": "9.9.9"}),
            (404, "9.9.9"),
        ),
        (
            Method::PUT,
            REVIEWS,
            Some(&bob),
            json!({"stars": 3}),
            (400, "not the expected JSON"),
        ),
        (
            Method::PUT,
            REVIEWS,
            None,
            json!({"rating": 3}),
            (401, "needs an API token"),
        ),
        (
            Method::PUT,
            "packages/nope/reviews",
            Some(&bob),
            json!({"rating": 3}),
            (404, "nope"),
        ),
        (
            Method::POST,
            reply.as_str(),
            Some(&bob),
            json!({"body": "mine"}),
            (403, "not an owner"),
        ),
        (
            Method::POST,
            &format!("{REVIEWS}/999/reply"),
            Some(&admin),
            json!({"body": "?"}),
            (404, "no review 999"),
        ),
        (
            Method::POST,
            &format!("{REVIEWS}/{alice_id}/hide"),
            Some(&bob),
            json!({"reason": "no"}),
            (403, "needs the role tenant-admin"),
        ),
        (
            Method::POST,
            &format!("{REVIEWS}/{alice_id}/hide"),
            Some(&admin),
            json!({"reason": ""}),
            (400, "`reason` is empty"),
        ),
    ] {
        refused(
            &registry,
            &method,
            path,
            token.map(String::as_str),
            &body,
            answer,
        )?;
    }

    expect(
        &registry,
        &Method::POST,
        &format!("{REVIEWS}/{alice_id}/hide"),
        Some(&admin),
        &json!({"reason": "Reported as spam; confirmed."}),
        200,
    )?;
    let public = get(&registry, REVIEWS, 200)?;
    assert_eq!(public.as_array().map(Vec::len), Some(1), "{public}");
    assert_eq!(public[0]["author"], "bob");
    let as_admin = registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/catalogue/{REVIEWS}",
            registry.url()
        ))
        .header("Authorization", &admin)
        .send()?
        .json::<Value>()?;
    let hidden = as_admin
        .as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == alice_id))
        .ok_or("the administrator sees the hidden review")?;
    assert_eq!(hidden["hidden"]["reason"], "Reported as spam; confirmed.");
    assert_eq!(hidden["reports"], 1);
    let page = get(&registry, "packages/http-client", 200)?;
    assert_eq!(page["rating"], json!({"average": 2.0, "count": 1}));
    Ok(())
}

#[test]
fn review_writes_are_rate_limited_per_user() -> TestResult {
    use reqwest::Method;
    let registry = TestRegistry::start();
    publish_plugin(&registry, &core_plugin_dir("http-client", "1.4.0"))?;
    let eager = registry.create_token("eager", &["read"]);
    // The limit allows a burst of 20 writes and then refills one every 3 s, so on a slow
    // machine a write or two more may pass before the refusal: count them against the time
    // the writes took instead of assuming the burst is sent within a moment.
    let started = std::time::Instant::now();
    let mut accepted = 0_u64;
    let (detail, before) = loop {
        let before = registry.data_snapshot();
        let rating = accepted % 5 + 1;
        let response = send(
            &registry,
            Method::PUT,
            REVIEWS,
            Some(&eager),
            &json!({ "rating": rating }),
        )?;
        let code = response.status().as_u16();
        let text = response.text()?;
        match code {
            200 => accepted += 1,
            429 => break (text, before),
            other => panic!("review write {accepted} answered {other}: {text}"),
        }
        assert!(accepted <= 60, "60 review writes were never refused");
    };
    let refilled = started.elapsed().as_secs() / 3 + 1;
    assert!(
        (20..=20 + refilled).contains(&accepted),
        "{accepted} writes passed before the refusal (burst 20, {refilled} refilled)"
    );
    let answer: Value = serde_json::from_str(&detail)?;
    let message = answer["errors"][0]["detail"].as_str().ok_or("detail")?;
    assert!(
        message.contains("review rate limit reached for `eager`"),
        "{message}"
    );
    assert!(!message.contains('\n'), "more than one line: {message}");
    assert!(
        registry.data_snapshot() == before,
        "the refused review write changed the data directory"
    );
    // Another user is not affected.
    let calm = registry.create_token("calm", &["read"]);
    expect(
        &registry,
        &Method::PUT,
        REVIEWS,
        Some(&calm),
        &json!({"rating": 4}),
        200,
    )?;
    Ok(())
}

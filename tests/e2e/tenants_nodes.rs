//! Tenants of a registry on PostgreSQL served by every node: two `wharf serve` nodes on one
//! PostgreSQL cluster and one bucket (Garage), as real processes. A tenant created by
//! `wharf tenant create --database` on one node's directory is served by both (the time
//! until the other node serves it is printed, not asserted); a publish through one node is
//! served and downloaded from the other (its blob under the tenant's prefix of the bucket);
//! a suspension made on one node is honoured by the other, and so is the resume; a name that
//! is no tenant gets the same answer from both nodes.

use std::time::{Duration, Instant};

use wharf_e2e_tests::backends::Cluster;
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, describe};

use crate::tenants::{create_tenant, tenant_token, wait_for_tenant};

/// How long a node may take to apply a change of the tenants table before the test gives
/// up (a bound for a stuck follower, not a performance target: the time is printed).
const APPLIED_WITHIN: Duration = Duration::from_secs(30);

/// Polls `GET /t/{tenant}/index/config.json` on `node` without a token until it answers
/// `status`; how long that took.
fn until_config_answers(node: &TestRegistry, tenant: &str, status: u16) -> TestResult<Duration> {
    let started = Instant::now();
    let url = format!("{}/t/{tenant}/index/config.json", node.url());
    let http = node.http();
    loop {
        let answer = http.get(&url).send()?.status().as_u16();
        if answer == status {
            return Ok(started.elapsed());
        }
        assert!(
            started.elapsed() < APPLIED_WITHIN,
            "tenant `{tenant}` still answers {answer}, not {status}, after 30 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What `node` answers to `path` under a name that is no tenant, with `token` if any:
/// status, the challenge and the body (the node's own URL replaced by `NODE` in both).
fn unknown_answer(
    node: &TestRegistry,
    path: &str,
    token: Option<&str>,
) -> TestResult<(u16, String, String)> {
    let mut request = node.http().get(format!("{}/t/nobody{path}", node.url()));
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send()?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .replace(&node.url(), "NODE");
    Ok((
        status,
        challenge,
        response.text()?.replace(&node.url(), "NODE"),
    ))
}

#[test]
fn a_tenant_created_on_one_node_is_served_suspended_and_resumed_on_every_node() -> TestResult {
    let cluster = Cluster::start(2);
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);

    // Public tenants made through node A's directory: the time until node B serves each
    // (the first one also has each node open the empty registry of unknown names).
    for tenant in ["open", "later"] {
        create_tenant(a, tenant, &[]);
        let took = until_config_answers(b, tenant, 200)?;
        eprintln!(
            "time to serve a new tenant `{tenant}`: command on node A -> node B: {} ms",
            took.as_millis()
        );
        until_config_answers(a, tenant, 200)?;
    }

    // An auth-required tenant, its token made through node B's directory (the tenant's
    // keys are written there from the table), a publish through node A, the index file
    // and the download from node B.
    create_tenant(a, "acme", &["--auth-required"]);
    let alice = tenant_token(b, "acme", "alice");
    wait_for_tenant(a, "acme", &alice, 200)?;
    wait_for_tenant(b, "acme", &alice, 200)?;
    let published = a
        .http()
        .put(format!("{}/t/acme/api/v1/crates/new", a.url()))
        .header("Authorization", &alice)
        .body(publish_body("acme-lib", "1.0.0"))
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    let file = format!("{}/t/acme/index/ac/me/acme-lib", b.url());
    let started = Instant::now();
    loop {
        let served = b.http().get(&file).header("Authorization", &alice).send()?;
        if served.status() == 200 && served.text()?.contains(r#""vers":"1.0.0""#) {
            break;
        }
        assert!(
            started.elapsed() < APPLIED_WITHIN,
            "node B does not serve acme-lib"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let download = b
        .http()
        .get(format!(
            "{}/t/acme/api/v1/crates/acme-lib/1.0.0/download",
            b.url()
        ))
        .header("Authorization", &alice)
        .send()?;
    assert_eq!(download.status(), 200);
    assert!(!download.bytes()?.is_empty());
    for node in [a, b] {
        let recorded = std::fs::read_to_string(node.data_dir().join("tenants/acme/blob-storage"))?;
        assert!(recorded.trim().ends_with("/t/acme"), "{recorded}");
    }

    // Suspended through node B's directory: node A answers 403 with the message.
    let suspended = b.run_on_data(
        &["tenant", "suspend"],
        &["acme", "--reason", "invoice 42 unpaid"],
    );
    assert!(suspended.status.success(), "{}", describe(&suspended));
    wait_for_tenant(a, "acme", &alice, 403)?;
    let refused = a.http().get(&file).header("Authorization", &alice).send()?;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json()?;
    let detail = body["errors"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("tenant `acme` is suspended") && !detail.contains("invoice"),
        "{detail}"
    );
    let listed = a.run_on_data(&["tenant", "list"], &[]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("suspended: invoice 42 unpaid"), "{listed}");
    // Resumed through node A's directory: node B serves it again.
    let resumed = a.run_on_data(&["tenant", "resume"], &["acme"]);
    assert!(resumed.status.success(), "{}", describe(&resumed));
    wait_for_tenant(b, "acme", &alice, 200)?;

    // A name that is no tenant: the same answer from both nodes, with and without a token.
    for (path, token) in [
        ("/index/config.json", None),
        ("/index/ac/me/acme-lib", Some(alice.as_str())),
        (
            "/api/v1/crates/acme-lib/1.0.0/download",
            Some(alice.as_str()),
        ),
    ] {
        assert_eq!(
            unknown_answer(a, path, token)?,
            unknown_answer(b, path, token)?,
            "{path}"
        );
        assert_eq!(unknown_answer(a, path, token)?.0, 401, "{path}");
    }
    // Neither node failed to open a tenant or the registry of unknown names on the way.
    for node in [a, b] {
        for failure in ["tenant not served", "tenants table not applied"] {
            let logged = node.wait_for_log_within(failure, Duration::ZERO);
            assert_eq!(logged, None);
        }
    }
    Ok(())
}

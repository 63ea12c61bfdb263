//! Several `wharf serve` nodes of one registry: one PostgreSQL database, one S3 bucket
//! (Garage), each node with its own data directory, as real processes. A publish through any
//! node is served by every other (the time it took is printed, not asserted), a token revoked
//! through one node is refused by the others once its notification arrives (polled), a node
//! killed with SIGKILL leaves the others serving, a node without the registry's keys refuses
//! to start, and a node whose database is gone stops saying it is ready.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use wharf_e2e_tests::backends::Cluster;
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};

/// How long a node may take to serve another node's publish before the test gives up (a
/// bound for a stuck follower, not a performance target: the times are printed).
const VISIBLE_WITHIN: Duration = Duration::from_secs(30);

/// Publishes `name@version` through `node` with `token`: the status and the error detail.
fn publish(
    node: &TestRegistry,
    token: &str,
    name: &str,
    version: &str,
) -> TestResult<(u16, String)> {
    let response = node
        .http()
        .put(format!("{}/api/v1/crates/new", node.url()))
        .header("Authorization", token)
        .body(publish_body(name, version))
        .send()?;
    let status = response.status().as_u16();
    let answer: Value = response.json().unwrap_or_default();
    let detail = answer["errors"][0]["detail"].as_str().unwrap_or_default();
    Ok((status, detail.to_owned()))
}

/// Yanks a version of `carols` that does not exist through `node` with `token` (404 for a
/// valid token, 403 for a revoked one; changes nothing either way): the status and the
/// error detail.
fn yank_missing(node: &TestRegistry, token: &str) -> TestResult<(u16, String)> {
    let response = node
        .http()
        .delete(format!("{}/api/v1/crates/carols/9.9.9/yank", node.url()))
        .header("Authorization", token)
        .send()?;
    let status = response.status().as_u16();
    let answer: Value = response.json().unwrap_or_default();
    let detail = answer["errors"][0]["detail"].as_str().unwrap_or_default();
    Ok((status, detail.to_owned()))
}

/// How long until `node` serves `name@version` in its index file, polling; `None` when it
/// did not within [`VISIBLE_WITHIN`].
fn time_to_visible(node: &TestRegistry, name: &str, version: &str) -> Option<Duration> {
    let started = Instant::now();
    let url = format!(
        "{}/index/{}",
        node.url(),
        wharf_index_format::index_path(name)
    );
    let http = node.http();
    let needle = format!(r#""vers":"{version}""#);
    while started.elapsed() < VISIBLE_WITHIN {
        let served = http
            .get(&url)
            .send()
            .ok()
            .filter(|response| response.status() == 200)
            .and_then(|response| response.text().ok());
        if served.is_some_and(|text| text.contains(&needle)) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// The `error:` lines of a command's stderr (a server also logs at `warn` there).
fn error_lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("error:"))
        .map(str::to_owned)
        .collect()
}

/// The value of the gauge `name` on `node`'s `/metrics`.
fn gauge(node: &TestRegistry, name: &str) -> TestResult<f64> {
    let text = node
        .http()
        .get(format!("{}/metrics", node.url()))
        .send()?
        .text()?;
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .ok_or_else(|| format!("no {name} on /metrics"))?;
    Ok(line.trim().parse()?)
}

/// Polls `node`'s gauge `name` until `done` holds for it (within [`VISIBLE_WITHIN`]).
fn until_gauge(node: &TestRegistry, name: &str, done: impl Fn(f64) -> bool) -> TestResult<f64> {
    let started = Instant::now();
    loop {
        let value = gauge(node, name)?;
        if done(value) {
            return Ok(value);
        }
        if started.elapsed() > VISIBLE_WITHIN {
            return Err(format!("{name} is still {value} after 30 s").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ready_status(node: &TestRegistry) -> Option<u16> {
    node.http()
        .get(format!("{}/ready", node.url()))
        .send()
        .ok()
        .map(|response| response.status().as_u16())
}

#[test]
fn nodes_on_one_database_and_bucket_serve_one_registry() -> TestResult {
    let mut cluster = Cluster::start(3);
    let admin = cluster.nodes[0].admin_token.clone();
    for node in &cluster.nodes {
        assert_eq!(ready_status(node), Some(200));
        // Only the first node made an admin token; the others joined its registry.
        assert_eq!(
            node.data_dir().join("admin-token").exists(),
            node.data_dir() == cluster.nodes[0].data_dir()
        );
    }

    // A publish through each node is served by every other one.
    for (from, node) in cluster.nodes.iter().enumerate() {
        let name = format!("from-node-{from}");
        let (status, detail) = publish(node, &admin, &name, "1.0.0")?;
        assert_eq!(status, 200, "{detail}");
        for (to, other) in cluster.nodes.iter().enumerate() {
            let took = time_to_visible(other, &name, "1.0.0")
                .ok_or_else(|| format!("node {to} did not serve {name} within 30 s"))?;
            eprintln!(
                "time to visibility: node {from} -> node {to}: {} ms",
                took.as_millis()
            );
        }
        // The blob is in the shared bucket: every node downloads it.
        for other in &cluster.nodes {
            let download = other
                .http()
                .get(format!(
                    "{}/api/v1/crates/{name}/1.0.0/download",
                    other.url()
                ))
                .send()?;
            assert_eq!(download.status(), 200);
            assert!(!download.bytes()?.is_empty());
        }
    }
    // Every node has caught up with the log: no entries behind.
    for node in &cluster.nodes {
        until_gauge(node, "wharf_follower_lag_entries", |entries| entries == 0.0)?;
    }

    // A refused publish through one node (a duplicate committed through another) changes
    // nothing anywhere.
    let (status, detail) = publish(&cluster.nodes[2], &admin, "from-node-0", "1.0.0")?;
    assert_eq!(status, 409, "{detail}");
    assert!(detail.contains("already published"), "{detail}");

    // A token made through one node, used on every node (which keeps it as verified) and
    // revoked by a command on another node's data directory is refused by every node once
    // the change's notification arrives (the time it took is printed, not asserted).
    let carol = cluster.nodes[0].create_token("carol", &[]);
    let (status, detail) = publish(&cluster.nodes[1], &carol, "carols", "1.0.0")?;
    assert_eq!(status, 200, "{detail}");
    for node in &cluster.nodes {
        let (status, detail) = yank_missing(node, &carol)?;
        assert_eq!(status, 404, "{detail}");
    }
    let id = cluster.nodes[1].token_id("carol");
    let revoked = cluster.nodes[1].run_on_data(&["token", "revoke"], &[&id]);
    assert!(revoked.status.success(), "{}", describe(&revoked));
    let started = Instant::now();
    for (index, node) in cluster.nodes.iter().enumerate() {
        loop {
            let (status, detail) = yank_missing(node, &carol)?;
            if status == 403 {
                assert!(detail.contains("revoked"), "{detail}");
                break;
            }
            assert_eq!(status, 404, "{detail}");
            assert!(
                started.elapsed() < VISIBLE_WITHIN,
                "node {index} still accepts a token revoked 30 s ago"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        eprintln!(
            "revoked token refused by node {index} after {} ms",
            started.elapsed().as_millis()
        );
    }
    let (status, detail) = publish(&cluster.nodes[2], &carol, "carols", "2.0.0")?;
    assert_eq!(status, 403, "{detail}");

    // A node killed mid-service leaves the others serving reads and publishes.
    cluster.nodes[2].kill9();
    let (status, detail) = publish(&cluster.nodes[1], &admin, "after-kill", "1.0.0")?;
    assert_eq!(status, 200, "{detail}");
    assert!(time_to_visible(&cluster.nodes[0], "after-kill", "1.0.0").is_some());
    assert_eq!(ready_status(&cluster.nodes[0]), Some(200));
    // It starts again, catches up with what it missed, and serves it.
    cluster.nodes[2].start_again();
    assert!(time_to_visible(&cluster.nodes[2], "after-kill", "1.0.0").is_some());
    assert_eq!(ready_status(&cluster.nodes[2]), Some(200));

    // Without its database a node says it is not ready, so a balancer stops sending it work.
    let postgres = cluster.backends.postgres.pid().to_string();
    let killed = Command::new("kill").args(["-KILL", &postgres]).status()?;
    assert!(killed.success());
    let started = Instant::now();
    while ready_status(&cluster.nodes[0]) != Some(503) {
        assert!(
            started.elapsed() < VISIBLE_WITHIN,
            "node 0 still ready 30 s after its database went away"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // And its lag metric grows: it has not found itself at the log's head since.
    let lag = until_gauge(&cluster.nodes[0], "wharf_follower_lag_seconds", |seconds| {
        seconds > 3.0
    })?;
    eprintln!("follower lag without the database: {lag} s");
    Ok(())
}

#[test]
fn a_node_without_the_registry_keys_refuses_to_start_and_commands_name_the_database() -> TestResult
{
    let cluster = Cluster::start(1);
    let node = &cluster.nodes[0];
    let backends = &cluster.backends;
    let fresh = tempfile::tempdir()?;
    let mut serve = Command::new(wharf_binary());
    serve
        .arg("serve")
        .arg("--data")
        .arg(fresh.path())
        .args(["--listen", "127.0.0.1:0"])
        .args(backends.serve_args())
        .envs(backends.env())
        .env("RUST_LOG", "warn");
    let refused = serve.output()?;
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let errors = error_lines(&refused);
    assert_eq!(errors.len(), 1, "{}", describe(&refused));
    let stderr = &errors[0];
    assert!(
        stderr.contains("are missing")
            && stderr.contains("copy `keys/`")
            && stderr.contains("root key wharf-ed25519:"),
        "{stderr}"
    );
    assert!(
        !fresh.path().join("keys").exists(),
        "the node made keys of its own"
    );

    // Commands that work on the embedded database only refuse a node's directory, naming
    // the database (without its password) and what to use instead.
    let backup = Command::new(wharf_binary())
        .args(["admin", "backup", "--out"])
        .arg(fresh.path().join("backup.tar"))
        .arg("--data")
        .arg(node.data_dir())
        .output()?;
    assert_eq!(backup.status.code(), Some(2), "{}", describe(&backup));
    let stderr = String::from_utf8_lossy(&backup.stderr).into_owned();
    assert!(
        stderr.contains(&backends.postgres.url()) && stderr.contains("pg_basebackup"),
        "{stderr}"
    );
    let listed = Command::new(wharf_binary())
        .args(["token", "list", "--data"])
        .arg(node.data_dir())
        .env_remove("WHARF_DATABASE")
        .output()?;
    assert_eq!(listed.status.code(), Some(2), "{}", describe(&listed));
    assert!(
        String::from_utf8_lossy(&listed.stderr).contains("give `--database`"),
        "{}",
        describe(&listed)
    );
    // The same command with the database lists the admin's token.
    let listed = node.run_on_data(&["token", "list"], &[]);
    assert!(listed.status.success(), "{}", describe(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("admin"));

    // A database that does not exist is one line naming it.
    let missing = Command::new(wharf_binary())
        .arg("serve")
        .arg("--data")
        .arg(fresh.path().join("other"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(backends.postgres.database_url("nosuchdb"))
        .env("RUST_LOG", "warn")
        .output()?;
    assert_eq!(missing.status.code(), Some(2), "{}", describe(&missing));
    let errors = error_lines(&missing);
    assert_eq!(errors.len(), 1, "{}", describe(&missing));
    assert!(
        errors[0].contains(&backends.postgres.database_url("nosuchdb"))
            && errors[0].contains("does not exist"),
        "{}",
        errors[0]
    );
    Ok(())
}

#[test]
fn an_unreachable_or_bad_database_is_one_line_without_the_password() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (url, expected) in [
        (
            "postgres://wharf:hunter2@127.0.0.1:1/wharf",
            "cannot connect to the PostgreSQL database `postgres://wharf:***@127.0.0.1:1/wharf`",
        ),
        (
            "mysql://wharf:hunter2@127.0.0.1/wharf",
            "`mysql://wharf:***@127.0.0.1/wharf` is not a PostgreSQL database URL",
        ),
        (
            "postgres://wharf:hunter2@127.0.0.1:notaport/wharf",
            "is not a PostgreSQL database URL",
        ),
    ] {
        let output = Command::new(wharf_binary())
            .arg("serve")
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .env("WHARF_DATABASE", url)
            .env("RUST_LOG", "info")
            .output()?;
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let errors = error_lines(&output);
        assert_eq!(errors.len(), 1, "{}", describe(&output));
        assert!(errors[0].contains(expected), "{}", errors[0]);
        // Not in the error, nor in any line the server logged before it.
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    Ok(())
}

/// The head `wharf admin audit verify` reports as anchored (`registry head N anchored`).
fn anchored_head(verified: &str) -> Option<u64> {
    let (_, after) = verified.split_once("registry head ")?;
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_command_on_a_node_anchors_its_audit_record_before_it_exits() -> TestResult {
    let mut cluster = Cluster::start(1);
    // With the server stopped, only the commands below can move the node's anchor.
    cluster.nodes[0].stop();
    let node = &cluster.nodes[0];
    let created = node.run_on_data(&["token", "create"], &["--user", "auditor-check"]);
    assert!(created.status.success(), "{}", describe(&created));

    let verified = node.run_on_data(&["admin", "audit", "verify"], &[]);
    assert!(verified.status.success(), "{}", describe(&verified));
    let verified = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(verified.contains("chain intact"), "{verified}");
    let head = anchored_head(&verified).unwrap_or_else(|| panic!("no anchored head: {verified}"));

    let exported = node.run_on_data(&["admin", "audit", "export"], &[]);
    assert!(exported.status.success(), "{}", describe(&exported));
    let records: Vec<Value> = String::from_utf8_lossy(&exported.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let created_seq = records
        .iter()
        .find(|record| {
            record["action"] == "token.create"
                && record["target"]
                    .as_str()
                    .is_some_and(|target| target.contains("auditor-check"))
        })
        .and_then(|record| record["seq"].as_u64())
        .unwrap_or_else(|| panic!("no token.create record: {records:?}"));
    // The token command wrote its anchor object before it exited: the head the verify
    // read reaches its record (the verify's own record comes after it).
    assert_eq!(head, created_seq, "{verified}");
    Ok(())
}

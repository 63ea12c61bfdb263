//! The audit log over a real server: every security-relevant action leaves its record
//! (who, from where, on what, how it ended), secrets never appear, and `wharf admin audit
//! verify` catches an edited field, a dropped record, a swapped pair and a truncated tail.

use std::process::Command;
use std::time::Duration;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn export(registry: &TestRegistry) -> Vec<serde_json::Value> {
    ok(&registry.run_on_data(&["admin", "audit", "export"], &[]))
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON record"))
        .collect()
}

/// The server appends its records through its writer queue, just behind its answers: the
/// export is read again (a bounded number of times) until `action` on `target` is there.
fn wait_for(registry: &TestRegistry, action: &str, target: &str) -> serde_json::Value {
    for _ in 0..200 {
        if let Some(record) = export(registry).into_iter().find(|r| {
            r["action"] == action && r["target"].as_str().is_some_and(|t| t.contains(target))
        }) {
            return record;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no `{action}` record on `{target}` in {:#?}",
        export(registry)
    );
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario: each action, then its record
fn each_security_relevant_action_leaves_a_record_without_secrets() -> TestResult {
    let registry = TestRegistry::start();
    let alice = registry.create_token("alice", &[]);
    let _bob = registry.create_token("bob", &["read"]);
    let http = registry.http();
    let url = registry.url();
    let response = http
        .put(format!("{url}/api/v1/crates/new"))
        .header("Authorization", &alice)
        .body(publish_body("audited", "1.0.0"))
        .send()?;
    assert_eq!(response.status().as_u16(), 200);
    let yank = http
        .delete(format!("{url}/api/v1/crates/audited/1.0.0/yank"))
        .header("Authorization", &alice)
        .send()?;
    assert_eq!(yank.status().as_u16(), 200);
    let unyank = http
        .put(format!("{url}/api/v1/crates/audited/1.0.0/unyank"))
        .header("Authorization", &alice)
        .send()?;
    assert_eq!(unyank.status().as_u16(), 200);
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let owners = http
            .request(method, format!("{url}/api/v1/crates/audited/owners"))
            .header("Authorization", &alice)
            .body(r#"{"users":["bob"]}"#)
            .send()?;
        assert_eq!(owners.status().as_u16(), 200);
    }
    // Failed authorisation: no token, and a bad one (never written).
    let denied = http
        .put(format!("{url}/api/v1/crates/new"))
        .body(publish_body("audited", "1.0.1"))
        .send()?;
    assert_eq!(denied.status().as_u16(), 401);
    let bad_token = "wharf_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let denied = http
        .delete(format!("{url}/api/v1/crates/audited/1.0.0/yank"))
        .header("Authorization", bad_token)
        .send()?;
    assert_eq!(denied.status().as_u16(), 403);
    // A publisher key registered through the API.
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("publisher.key");
    ok(&Command::new(wharf_binary())
        .args(["keys", "new", "--out"])
        .arg(&key)
        .output()?);
    ok(&Command::new(wharf_binary())
        .args([
            "keys",
            "register",
            "--registry",
            &url,
            "--token",
            &alice,
            "--key",
        ])
        .arg(&key)
        .output()?);
    // Admin commands.
    ok(&registry.run_on_data(&["admin", "premium", "set"], &["audited"]));
    ok(&registry.run_on_data(
        &["admin", "licence", "trust-key"],
        &["--key", key.to_str().unwrap()],
    ));
    let licence = ok(&registry.run_on_data(
        &["admin", "licence", "issue"],
        &[
            "--key",
            key.to_str().unwrap(),
            "--licensee",
            "alice",
            "--package",
            "audited",
            "--expires",
            "1d",
            "--id",
            "lic-a",
        ],
    ));
    ok(&registry.run_on_data(
        &["admin", "licence", "revoke"],
        &["lic-a", "--key", key.to_str().unwrap()],
    ));
    let premium_denied = http
        .get(format!("{url}/api/v1/crates/audited/1.0.0/download"))
        .header("Authorization", &alice)
        .send()?;
    assert_eq!(premium_denied.status().as_u16(), 403);
    ok(&registry.run_on_data(&["token", "revoke"], &[&registry.token_id("bob")]));
    ok(&registry.run_on_data(&["admin", "gc"], &[]));

    let publish = wait_for(&registry, "publish", "audited@1.0.0");
    assert_eq!(publish["actor"], "alice");
    assert_eq!(publish["source"], "127.0.0.1");
    assert_eq!(publish["tenant"], "default");
    assert_eq!(publish["outcome"], "ok");
    assert_eq!(
        wait_for(&registry, "yank", "/api/v1/crates/audited/1.0.0/yank")["actor"],
        "alice"
    );
    wait_for(&registry, "unyank", "/api/v1/crates/audited/1.0.0/unyank");
    wait_for(&registry, "owner.add", "/api/v1/crates/audited/owners");
    wait_for(&registry, "owner.remove", "/api/v1/crates/audited/owners");
    wait_for(&registry, "key.register", "/api/wharf/v1/keys");
    let denied = wait_for(&registry, "publish", "/api/v1/crates/new");
    assert_eq!(denied["actor"], "anonymous");
    assert!(
        denied["outcome"].as_str().unwrap().starts_with("401: "),
        "{denied}"
    );
    let bad = wait_for(&registry, "yank", "/api/v1/crates/audited/1.0.0/yank");
    assert!(
        export(&registry).iter().any(|r| r["action"] == "yank"
            && r["actor"] == "anonymous"
            && r["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("403: invalid token"))),
        "{bad}"
    );
    let premium_refusal = wait_for(
        &registry,
        "auth.denied",
        "/api/v1/crates/audited/1.0.0/download",
    );
    assert!(
        premium_refusal["outcome"]
            .as_str()
            .unwrap()
            .contains("licence missing"),
        "{premium_refusal}"
    );
    for (action, target) in [
        ("token.create", "for alice"),
        ("token.revoke", "token "),
        ("premium.set", "audited"),
        ("entitlement-key.add", ""),
        ("licence.issue", "lic-a to alice"),
        ("licence.revocations", "revocation list"),
        ("admin.gc", "unreferenced"),
    ] {
        let record = wait_for(&registry, action, target);
        assert_eq!(record["actor"], "admin", "{record}");
        assert_eq!(record["source"], "local", "{record}");
    }

    let all = ok(&registry.run_on_data(&["admin", "audit", "export"], &[]));
    for secret in [alice.as_str(), bad_token, licence.trim()] {
        assert!(!all.contains(secret), "a secret is in the audit export");
    }
    let verified = ok(&registry.run_on_data(&["admin", "audit", "verify"], &[]));
    assert!(verified.contains("chain intact"), "{verified}");
    Ok(())
}

#[test]
fn verify_catches_an_edit_a_drop_a_swap_and_a_truncated_tail() -> TestResult {
    let registry = TestRegistry::start();
    for user in ["u1", "u2", "u3", "u4"] {
        registry.create_token(user, &["read"]);
    }
    let dir = tempfile::tempdir()?;
    let exported = dir.path().join("audit.jsonl");
    std::fs::write(
        &exported,
        ok(&registry.run_on_data(&["admin", "audit", "export"], &[])),
    )?;
    let exported_text = std::fs::read_to_string(&exported)?;
    let lines: Vec<&str> = exported_text.lines().collect();
    assert_eq!(lines.len(), 4, "{exported_text}");
    let verify = |text: String| -> TestResult<(bool, String)> {
        let file = dir.path().join("check.jsonl");
        std::fs::write(&file, text)?;
        let output = registry.run_on_data(
            &["admin", "audit", "verify"],
            &["--file", file.to_str().unwrap()],
        );
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    };
    let joined = |lines: &[&str]| lines.join("\n") + "\n";

    let (intact, report) = verify(exported_text.clone())?;
    assert!(intact, "{report}");

    let edited = exported_text.replacen(" for u2\"", " for mallory\"", 1);
    assert_ne!(edited, exported_text);
    let (intact, report) = verify(edited)?;
    assert!(!intact);
    assert!(
        report.contains("record 2: its fields do not hash to its `hash` (edited)"),
        "{report}"
    );

    let (intact, report) = verify(joined(&[lines[0], lines[2], lines[3]]))?;
    assert!(!intact);
    assert!(report.contains("record 3 follows record 1"), "{report}");

    let (intact, report) = verify(joined(&[lines[0], lines[2], lines[1], lines[3]]))?;
    assert!(!intact);
    assert!(
        report.contains("`prev_hash` is not the hash of record"),
        "{report}"
    );

    let (intact, report) = verify(joined(&lines[..3]))?;
    assert!(!intact);
    assert!(report.contains("its tail was truncated"), "{report}");
    Ok(())
}

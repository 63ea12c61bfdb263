//! Signed security advisories end to end: the administrator publishes one (anyone else is
//! refused, a malformed one names its fault, both change nothing), `wharf install`
//! refuses the affected versions unless `--allow-advisory ID` is given and picks an
//! unaffected one when it fits, `wharf list --audit` flags an installed affected plugin
//! and exits 1, and a forged, re-signed or unsigned feed is refused.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use wharf_e2e_tests::tamper_proxy::{Action, Rule, edit};
use wharf_e2e_tests::{TamperProxy, TestResult, wharf_binary};
use wharf_trust::{LifecycleFeed, LifecycleTerms, SigningKey};

use crate::lifecycle::{Lifecycle, install_from, installed, ok, stderr};

const ID: &str = "WHARF-2026-0001";

fn publish(lifecycle: &Lifecycle, token: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "admin",
        "advisory",
        "publish",
        "--id",
        ID,
        "--package",
        "widget",
        "--severity",
        "critical",
        "--fixed",
        "1.2.0",
        "--description",
        "runs any command the host passes it",
    ];
    args.extend_from_slice(extra);
    lifecycle.wharf(&args, token)
}

fn list_audit(dir: &Path) -> Output {
    Command::new(wharf_binary())
        .args(["list", "--audit", "--dir"])
        .arg(dir)
        .env_remove("WHARF_TOKEN")
        .output()
        .expect("the wharf binary runs")
}

#[test]
fn an_advisory_makes_install_refuse_and_list_audit_flag_it() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let dir = tempfile::tempdir()?;
    let early = dir.path().join("early");
    ok(&lifecycle.install(&early, &["widget@=1.1.0"]));
    let clean = list_audit(&early);
    assert!(clean.status.success(), "{}", stderr(&clean));
    let feed_before = lifecycle.get("/index/.wharf/lifecycle")?.1;

    // Refusals change nothing: not the administrator; a range that is no range.
    let refused = publish(
        &lifecycle,
        &lifecycle.alice,
        &["--affected", ">=1.1.0, <1.2.0"],
    );
    assert!(
        stderr(&refused).contains("needs the role tenant-admin"),
        "{}",
        stderr(&refused)
    );
    let malformed = publish(
        &lifecycle,
        &lifecycle.admin,
        &["--affected", "one point one"],
    );
    assert!(
        stderr(&malformed).contains("affected range `one point one`"),
        "{}",
        stderr(&malformed)
    );
    let (_, feed) = lifecycle.get("/index/.wharf/lifecycle")?;
    let (now, before) = (feed_terms(&feed)?, feed_terms(&feed_before)?);
    assert_eq!(
        (now.serial, now.advisories),
        (before.serial, before.advisories),
        "a refused advisory leaves the feed as it was"
    );

    ok(&publish(
        &lifecycle,
        &lifecycle.admin,
        &["--affected", ">=1.1.0, <1.2.0"],
    ));
    let (status, listed) = lifecycle.get("/api/wharf/v1/advisories")?;
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&listed)?;
    assert_eq!(listed["advisories"][0]["id"], ID);
    assert_eq!(listed["advisories"][0]["severity"], "critical");
    assert!(
        listed["feed"]
            .as_str()
            .is_some_and(|feed| feed.starts_with("wharf-lifecycle-v1."))
    );
    // Publishing the same id again is a conflict.
    let again = publish(&lifecycle, &lifecycle.admin, &["--affected", "<1.0.0"]);
    assert!(
        stderr(&again).contains("already published"),
        "{}",
        stderr(&again)
    );

    // `wharf list --audit` flags the installed affected plugin and exits 1.
    let flagged = list_audit(&early);
    assert_eq!(flagged.status.code(), Some(1), "{}", stderr(&flagged));
    let out = String::from_utf8_lossy(&flagged.stdout);
    assert!(
        out.contains(&format!(
            "VULNERABLE: widget 1.1.0 is affected by advisory {ID} (critical severity)"
        )) && out.contains("fixed in 1.2.0"),
        "{out}"
    );

    // An install asking for the affected version is refused, naming the advisory...
    let exact = lifecycle.install(&dir.path().join("exact"), &["widget@=1.1.0"]);
    assert_eq!(exact.status.code(), Some(1));
    assert!(
        stderr(&exact).starts_with(&format!(
            "error[advisory]: widget 1.1.0 is affected by advisory {ID}"
        )) && stderr(&exact).contains(&format!("--allow-advisory {ID}")),
        "{}",
        stderr(&exact)
    );
    assert!(!dir.path().join("exact").join("current").exists());
    // ...installs it when that advisory is allowed explicitly...
    ok(&lifecycle.install(
        &dir.path().join("allowed"),
        &["widget@=1.1.0", "--allow-advisory", ID],
    ));
    assert!(installed(&dir.path().join("allowed")).contains("widget 1.1.0"));
    // ...and picks the unaffected version when one fits.
    ok(&lifecycle.install(&dir.path().join("any"), &["widget"]));
    assert!(installed(&dir.path().join("any")).contains("widget 1.0.0"));
    Ok(())
}

/// The terms of a feed's text form (its signature is checked by the installer tests).
fn feed_terms(feed: &str) -> TestResult<LifecycleTerms> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(
        feed.trim()
            .split('.')
            .nth(1)
            .ok_or("a feed has three parts")?,
    )?;
    Ok(serde_json::from_slice(&json)?)
}

/// Replaces the feed's JSON (the middle part) with `json`, keeping the signature.
fn with_json(feed: &[u8], json: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(feed);
    let parts: Vec<&str> = text.trim().split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json),
        parts[2]
    )
    .into_bytes()
}

#[test]
fn a_forged_or_unsigned_feed_is_refused() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    ok(&publish(
        &lifecycle,
        &lifecycle.admin,
        &["--affected", ">=1.1.0, <1.2.0"],
    ));
    let proxy = TamperProxy::start(&lifecycle.registry.url());
    let dir = tempfile::tempdir()?;
    let feed_path = "/index/.wharf/lifecycle";

    // The advisory removed from the signed JSON: the signature no longer holds.
    proxy.set(vec![Rule::exact(
        feed_path,
        edit(|body| {
            let text = String::from_utf8_lossy(body);
            let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim().split('.').nth(1).expect("three parts"))
                .expect("base64");
            let mut value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
            value["advisories"] = serde_json::json!([]);
            with_json(body, &serde_json::to_vec(&value).expect("JSON"))
        }),
    )]);
    let forged = install_from(
        &proxy.index_url(),
        &dir.path().join("forged"),
        &["widget@=1.1.0"],
    );
    assert!(
        stderr(&forged).starts_with("error[signature-invalid]: the lifecycle feed")
            && stderr(&forged).contains("cannot be trusted"),
        "{}",
        stderr(&forged)
    );
    assert!(!dir.path().join("forged").join("current").exists());

    // A feed without a signature.
    let empty = serde_json::to_vec(&LifecycleTerms::default())?;
    let unsigned = format!(
        "wharf-lifecycle-v1.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&empty)
    );
    proxy.set(vec![Rule::exact(
        feed_path,
        Action::Replace(unsigned.into_bytes()),
    )]);
    let refused = install_from(
        &proxy.index_url(),
        &dir.path().join("unsigned"),
        &["widget"],
    );
    assert!(
        stderr(&refused).starts_with("error[signature-invalid]: the lifecycle feed"),
        "{}",
        stderr(&refused)
    );

    // A well-formed feed signed by a key that is not the registry's release key.
    let mut terms = feed_terms(&lifecycle.get(feed_path)?.1)?;
    terms.advisories.clear();
    let resigned = LifecycleFeed::issue(terms, &SigningKey::generate())?.to_text();
    proxy.set(vec![Rule::exact(
        feed_path,
        Action::Replace(resigned.into_bytes()),
    )]);
    let refused = install_from(
        &proxy.index_url(),
        &dir.path().join("resigned"),
        &["widget@=1.1.0"],
    );
    assert!(
        stderr(&refused).starts_with("error[signature-invalid]: the lifecycle feed"),
        "{}",
        stderr(&refused)
    );

    // Served faithfully, the same install is refused for the advisory itself.
    proxy.clear();
    let faithful = install_from(
        &proxy.index_url(),
        &dir.path().join("faithful"),
        &["widget@=1.1.0"],
    );
    assert!(
        stderr(&faithful).starts_with("error[advisory]"),
        "{}",
        stderr(&faithful)
    );
    Ok(())
}

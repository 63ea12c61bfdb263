//! Plugin lifecycle over real HTTP with the real `wharf` binary: a deprecation is set by an
//! owner, refused to anyone else, logged, shown on the package page, avoided by `wharf
//! install` while another version fits and named in its warning; a quarantine (the
//! administrator only) takes a version out of resolution and download, keeps the other
//! lines as they were, is recorded with its reason, and is reversible.

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::upload::publish_body_with_deps;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

/// A registry with `host-api` 1.0.0, `widget` 1.0.0 and 1.1.0 and `new-widget` 1.0.0,
/// published by alice; tokens for alice, bob and the administrator.
pub(crate) struct Lifecycle {
    pub(crate) registry: TestRegistry,
    pub(crate) alice: String,
    pub(crate) bob: String,
    pub(crate) admin: String,
}

pub(crate) fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

impl Lifecycle {
    pub(crate) fn start() -> TestResult<Self> {
        let registry = TestRegistry::start();
        let alice = registry.create_token("alice", &[]);
        let bob = registry.create_token("bob", &[]);
        let admin = registry.create_token("admin", &[]);
        for (name, version) in [
            ("host-api", "1.0.0"),
            ("widget", "1.0.0"),
            ("widget", "1.1.0"),
            ("new-widget", "1.0.0"),
        ] {
            let deps: &[(&str, &str)] = if name == "host-api" {
                &[]
            } else {
                &[("host-api", "^1")]
            };
            let response = registry
                .http()
                .put(format!("{}/api/v1/crates/new", registry.url()))
                .header("Authorization", &alice)
                .body(publish_body_with_deps(name, version, deps))
                .send()?;
            assert_eq!(response.status().as_u16(), 200, "{}", response.text()?);
        }
        registry.settle();
        Ok(Self {
            registry,
            alice,
            bob,
            admin,
        })
    }

    /// Runs `wharf` with `args` and `--registry URL --token TOKEN`.
    pub(crate) fn wharf(&self, args: &[&str], token: &str) -> Output {
        Command::new(wharf_binary())
            .args(args)
            .args(["--registry", &self.registry.url(), "--token", token])
            .env_remove("WHARF_TOKEN")
            .output()
            .expect("the wharf binary runs")
    }

    /// `wharf install` into `dir` from this registry.
    pub(crate) fn install(&self, dir: &Path, args: &[&str]) -> Output {
        install_from(&self.registry.index_url(), dir, args)
    }

    /// GET `path`: status and body.
    pub(crate) fn get(&self, path: &str) -> TestResult<(u16, String)> {
        let response = self
            .registry
            .http()
            .get(format!("{}{path}", self.registry.url()))
            .send()?;
        Ok((response.status().as_u16(), response.text()?))
    }

    /// The index file of `widget`.
    pub(crate) fn widget_lines(&self) -> TestResult<Vec<serde_json::Value>> {
        let (status, body) = self.get("/index/wi/dg/widget")?;
        assert_eq!(status, 200);
        Ok(body
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?)
    }
}

/// `wharf install` into `dir` from `index_url`.
pub(crate) fn install_from(index_url: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(wharf_binary())
        .arg("install")
        .args(["--index-url", index_url, "--host-api", "1.0.0"])
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env_remove("WHARF_TOKEN")
        .output()
        .expect("the wharf binary runs")
}

/// `name version` lines of `wharf list`.
pub(crate) fn installed(dir: &Path) -> String {
    ok(&Command::new(wharf_binary())
        .args(["list", "--dir"])
        .arg(dir)
        .output()
        .expect("the wharf binary runs"))
}

#[test]
#[allow(clippy::too_many_lines)] // one deprecation from refusal to withdrawal
fn a_deprecation_is_logged_shown_avoided_and_warned_about() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let feed_before = lifecycle.get("/index/.wharf/lifecycle")?;
    assert_eq!(feed_before.0, 200);

    // Someone who owns nothing is refused, and nothing changes.
    let refused = lifecycle.wharf(
        &["deprecate", "widget", "1.1.0", "--message", "nope"],
        &lifecycle.bob,
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("user `bob` is not an owner of crate `widget`"),
        "{}",
        stderr(&refused)
    );
    // A message on two lines is refused naming the cause.
    let refused = lifecycle.wharf(
        &["deprecate", "widget", "--message", "two\nlines"],
        &lifecycle.alice,
    );
    assert!(
        stderr(&refused).contains("write it on one line"),
        "{}",
        stderr(&refused)
    );
    let unchanged: serde_json::Value =
        serde_json::from_str(&lifecycle.get("/api/wharf/v1/packages/widget/lifecycle")?.1)?;
    assert_eq!(unchanged["deprecations"], serde_json::json!([]));

    ok(&lifecycle.wharf(
        &[
            "deprecate",
            "widget",
            "1.1.0",
            "--message",
            "leaks file handles",
            "--successor",
            "new-widget",
        ],
        &lifecycle.alice,
    ));

    // The package page shows it.
    let (status, page) = lifecycle.get("/api/wharf/v1/catalogue/packages/widget")?;
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_str(&page)?;
    assert_eq!(
        page["lifecycle"]["deprecations"],
        serde_json::json!([{
            "package": "widget",
            "version": "1.1.0",
            "message": "leaks file handles",
            "successor": "new-widget"
        }])
    );
    // The transparency log holds a registry-signed deprecation statement.
    let (status, leaves) = lifecycle.get("/api/wharf/v1/log/leaves?start=0&end=50")?;
    assert_eq!(status, 200, "{leaves}");
    assert!(leaves.contains("wharf-deprecate-v1"), "{leaves}");
    // A client verifying the log from the pinned root key accepts it.
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root.pub");
    std::fs::write(
        &root,
        ok(&lifecycle
            .registry
            .run_on_data(&["admin", "root-key", "export"], &[])),
    )?;
    ok(&Command::new(wharf_binary())
        .args([
            "verify",
            "--index-url",
            &lifecycle.registry.index_url(),
            "--root-key",
        ])
        .arg(&root)
        .arg("--state")
        .arg(dir.path().join("state"))
        .arg("widget")
        .output()?);
    // The feed changed and the audit trail names the action.
    assert_ne!(lifecycle.get("/index/.wharf/lifecycle")?.1, feed_before.1);
    lifecycle.registry.settle();
    let audit = ok(&lifecycle
        .registry
        .run_on_data(&["admin", "audit", "export"], &[]));
    assert!(
        audit.lines().any(|line| line.contains("\"deprecate\"")
            && line.contains("widget@1.1.0")
            && line.contains("alice")),
        "{audit}"
    );

    // The installer prefers the version that is not deprecated...
    let first = lifecycle.install(&dir.path().join("a"), &["widget"]);
    ok(&first);
    assert!(installed(&dir.path().join("a")).contains("widget 1.0.0"));
    assert!(!stderr(&first).contains("deprecated"), "{}", stderr(&first));
    // ...installs it when nothing else fits, warning with the message and successor.
    let pinned = lifecycle.install(&dir.path().join("b"), &["widget@=1.1.0"]);
    ok(&pinned);
    assert!(
        stderr(&pinned).contains(
            "warning: widget 1.1.0 is deprecated: leaks file handles; use new-widget instead"
        ),
        "{}",
        stderr(&pinned)
    );

    // Withdrawn, the newest is chosen again.
    ok(&lifecycle.wharf(
        &["deprecate", "widget", "1.1.0", "--undo"],
        &lifecycle.alice,
    ));
    let again = lifecycle.install(&dir.path().join("c"), &["widget"]);
    ok(&again);
    assert!(installed(&dir.path().join("c")).contains("widget 1.1.0"));
    Ok(())
}

#[test]
#[allow(clippy::too_many_lines)] // one quarantine from start to release
fn a_quarantined_version_leaves_resolution_and_download_and_comes_back() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let lines_before = lifecycle.widget_lines()?;
    let blob = lines_before[1]["cksum"]
        .as_str()
        .expect("a cksum")
        .to_owned();
    let quarantine = ["admin", "quarantine", "widget", "1.1.0"];

    // Only the administrator may quarantine; the refusal changes nothing.
    let refused = lifecycle.wharf(
        &[&quarantine[..], &["--reason", "suspicious"]].concat(),
        &lifecycle.alice,
    );
    assert!(
        stderr(&refused).contains("needs the role tenant-admin"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(lifecycle.widget_lines()?, lines_before);

    ok(&lifecycle.wharf(
        &[
            &quarantine[..],
            &["--reason", "reported: sends host data to a third party"],
        ]
        .concat(),
        &lifecycle.admin,
    ));

    // cargo sees the version yanked; the other line is byte for byte as before.
    let lines = lifecycle.widget_lines()?;
    assert_eq!(lines[0], lines_before[0]);
    assert_eq!(lines[1]["yanked"], serde_json::json!(true));
    let mut unyanked = lines[1].clone();
    unyanked["yanked"] = serde_json::json!(false);
    assert_eq!(unyanked, lines_before[1]);

    // Its blob is refused with 423 naming the quarantine and the reason.
    let (status, body) = lifecycle.get(&format!("/blobs/sha256/{blob}"))?;
    assert_eq!(status, 423, "{body}");
    assert!(
        body.contains("widget@1.1.0 is quarantined")
            && body.contains("sends host data to a third party"),
        "{body}"
    );
    // The owner cannot unyank it.
    let response = lifecycle
        .registry
        .http()
        .put(format!(
            "{}/api/v1/crates/widget/1.1.0/unyank",
            lifecycle.registry.url()
        ))
        .header("Authorization", &lifecycle.alice)
        .send()?;
    assert_eq!(response.status().as_u16(), 409);
    assert!(response.text()?.contains("is quarantined"));
    // Installs pick the other version; asking for exactly this one finds nothing.
    let dir = tempfile::tempdir()?;
    ok(&lifecycle.install(&dir.path().join("a"), &["widget"]));
    assert!(installed(&dir.path().join("a")).contains("widget 1.0.0"));
    let exact = lifecycle.install(&dir.path().join("b"), &["widget@=1.1.0"]);
    assert!(!exact.status.success());
    assert!(
        stderr(&exact).contains("error[unresolvable]"),
        "{}",
        stderr(&exact)
    );
    // The audit trail keeps the reason.
    lifecycle.registry.settle();
    let audit = ok(&lifecycle
        .registry
        .run_on_data(&["admin", "audit", "export"], &[]));
    assert!(
        audit.lines().any(|line| line.contains("\"quarantine\"")
            && line.contains("sends host data to a third party")
            && line.contains("\"admin\"")),
        "{audit}"
    );

    // Released: the line, the blob and resolution come back.
    ok(&lifecycle.wharf(
        &[&quarantine[..], &["--release"]].concat(),
        &lifecycle.admin,
    ));
    assert_eq!(lifecycle.widget_lines()?, lines_before);
    assert_eq!(lifecycle.get(&format!("/blobs/sha256/{blob}"))?.0, 200);
    ok(&lifecycle.install(&dir.path().join("c"), &["widget"]));
    assert!(installed(&dir.path().join("c")).contains("widget 1.1.0"));
    // Releasing again names the cause.
    let again = lifecycle.wharf(
        &[&quarantine[..], &["--release"]].concat(),
        &lifecycle.admin,
    );
    assert!(
        stderr(&again).contains("is not quarantined"),
        "{}",
        stderr(&again)
    );
    Ok(())
}

#[test]
fn a_quarantine_of_a_yanked_version_keeps_it_yanked_after_release() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let response = lifecycle
        .registry
        .http()
        .delete(format!(
            "{}/api/v1/crates/widget/1.1.0/yank",
            lifecycle.registry.url()
        ))
        .header("Authorization", &lifecycle.alice)
        .send()?;
    assert_eq!(response.status().as_u16(), 200);
    let yanked = lifecycle.widget_lines()?;
    let quarantine = ["admin", "quarantine", "widget", "1.1.0"];
    ok(&lifecycle.wharf(
        &[&quarantine[..], &["--reason", "review"]].concat(),
        &lifecycle.admin,
    ));
    assert_eq!(lifecycle.widget_lines()?, yanked);
    ok(&lifecycle.wharf(
        &[&quarantine[..], &["--release"]].concat(),
        &lifecycle.admin,
    ));
    assert_eq!(lifecycle.widget_lines()?, yanked);
    Ok(())
}

/// `GET /index/.wharf/lifecycle` with an optional `If-None-Match`: status, `ETag`, body.
fn feed(lifecycle: &Lifecycle, if_none_match: Option<&str>) -> TestResult<(u16, String, String)> {
    let mut request = lifecycle.registry.http().get(format!(
        "{}/index/.wharf/lifecycle",
        lifecycle.registry.url()
    ));
    if let Some(etag) = if_none_match {
        request = request.header("If-None-Match", etag);
    }
    let response = request.send()?;
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .ok_or("the feed has no ETag")?
        .to_str()?
        .to_owned();
    Ok((status, etag, response.text()?))
}

#[test]
fn the_feed_is_signed_once_per_change_and_answers_304_until_it_changes() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let (status, etag, body) = feed(&lifecycle, None)?;
    assert_eq!(status, 200);
    // The same signed bytes again (the feed holds its signing time, so a feed signed anew
    // would differ once a second has passed; the bytes and ETag stay equal).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (status, again_etag, again) = feed(&lifecycle, None)?;
    assert_eq!((status, &again_etag, &again), (200, &etag, &body));
    let (status, same_etag, empty) = feed(&lifecycle, Some(&etag))?;
    assert_eq!(
        (status, same_etag.as_str(), empty.as_str()),
        (304, etag.as_str(), "")
    );

    // A change signs the feed again: the old ETag gets the new feed, which names it.
    ok(&lifecycle.wharf(
        &["deprecate", "widget", "--message", "use new-widget"],
        &lifecycle.alice,
    ));
    let (status, new_etag, changed) = feed(&lifecycle, Some(&etag))?;
    assert_eq!(status, 200);
    assert_ne!(new_etag, etag);
    assert_ne!(changed, body);
    // The feed's terms (its second dot-separated part) changed, not just its signature.
    assert_ne!(changed.split('.').nth(1), body.split('.').nth(1));
    let (status, _, _) = feed(&lifecycle, Some(&new_etag))?;
    assert_eq!(status, 304);
    Ok(())
}

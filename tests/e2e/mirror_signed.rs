//! A mirror carries and serves its upstream's signed material (keyset chain, timestamp,
//! checkpoint, leaves, snapshot bins, lifecycle feed) at the upstream's paths: a mirror of
//! the mirror verifies against the origin's pinned root key, an advisory published at the
//! origin reaches an installer through the mirror, and a replayed (older) feed is refused
//! by the mirror sync and by the installer.

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::tamper_proxy::{Action, Rule};
use wharf_e2e_tests::verify_setup::{VerifySetup, publish};
use wharf_e2e_tests::{TamperProxy, TestResult, describe, wharf_binary};
use wharf_index_format::index_path;

use crate::lifecycle::{Lifecycle, install_from, installed, ok, stderr};
use crate::mirror_serve::MirrorServer;

const ADVISORY: &str = "WHARF-2026-0042";

/// `wharf mirror sync --from FROM --data MIRROR` with `extra` arguments.
fn sync(from: &str, mirror: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    Command::new(wharf_binary())
        .args(["mirror", "sync", "--from", from, "--data"])
        .arg(mirror)
        .args(extra)
        .output()
        .expect("wharf runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn index_of(server: &MirrorServer) -> String {
    format!("sparse+{}/index/", server.url)
}

#[test]
fn a_mirror_of_a_mirror_verifies_against_the_origins_pinned_root_key() -> TestResult {
    let setup = VerifySetup::start();
    let work = tempfile::tempdir()?;
    let root = setup.client.path().join("root.pub");
    let trust = ["--trust".as_ref(), root.as_os_str()];

    let first = work.path().join("first");
    let synced = sync(&setup.registry.index_url(), &first, &trust);
    assert!(synced.status.success(), "{}", describe(&synced));
    let served = MirrorServer::start(&first);

    // The second mirror pins the origin's root key and syncs from the first mirror only.
    let second = work.path().join("second");
    let chained = sync(&index_of(&served), &second, &trust);
    assert!(chained.status.success(), "{}", describe(&chained));
    let said = stdout(&chained);
    assert!(
        said.contains("the upstream's log of 3 leaves verified against root key wharf-ed25519:")
            && said.contains("(pinned with --trust)"),
        "{said}"
    );
    let demo = index_path("demo-pkg");
    assert_eq!(
        std::fs::read(second.join("current/index").join(&demo))?,
        setup.fetch(&format!("/index/{demo}"))
    );

    // The origin moves on; both mirrors follow, the second through a consistency proof the
    // first mirror computes from the leaves it carries.
    publish(&setup.registry, "demo-pkg", "1.2.0");
    setup.registry.settle();
    let again = sync(&setup.registry.index_url(), &first, &trust);
    assert!(again.status.success(), "{}", describe(&again));
    let followed = sync(&index_of(&served), &second, &trust);
    assert!(followed.status.success(), "{}", describe(&followed));
    assert!(
        stdout(&followed).contains("log of 4 leaves verified"),
        "{}",
        stdout(&followed)
    );
    let lines = std::fs::read_to_string(second.join("current/index").join(&demo))?;
    assert_eq!(lines.lines().count(), 3, "{lines}");

    // `wharf verify` against the first mirror passes with the origin's key.
    let verified = Command::new(wharf_binary())
        .args(["verify", "--index-url", &index_of(&served), "--root-key"])
        .arg(&root)
        .arg("--state")
        .arg(work.path().join("verify-state"))
        .arg("--all")
        .output()?;
    assert!(verified.status.success(), "{}", describe(&verified));

    // Another root key: the mirror's material does not verify, nothing is copied.
    let other = work.path().join("other.pub");
    std::fs::write(
        &other,
        format!("{}\n", wharf_trust::SigningKey::generate().public_key()),
    )?;
    let wrong = work.path().join("wrong");
    let refused = sync(
        &index_of(&served),
        &wrong,
        &["--trust".as_ref(), other.as_os_str()],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert!(!wrong.join("current").exists());
    Ok(())
}

fn publish_advisory(lifecycle: &Lifecycle) {
    ok(&lifecycle.wharf(
        &[
            "admin",
            "advisory",
            "publish",
            "--id",
            ADVISORY,
            "--package",
            "widget",
            "--severity",
            "critical",
            "--fixed",
            "1.2.0",
            "--description",
            "runs any command the host passes it",
            "--affected",
            ">=1.1.0, <1.2.0",
        ],
        &lifecycle.admin,
    ));
}

#[test]
fn an_advisory_published_at_the_origin_reaches_an_installer_through_the_mirror() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let work = tempfile::tempdir()?;
    let exported = lifecycle
        .registry
        .run_on_data(&["admin", "root-key", "export"], &[]);
    assert!(exported.status.success(), "{}", describe(&exported));
    let root = work.path().join("root.pub");
    std::fs::write(&root, &exported.stdout)?;
    let trust = ["--trust".as_ref(), root.as_os_str()];
    let (_, old_feed) = lifecycle.get("/index/.wharf/lifecycle")?;

    let mirror = work.path().join("mirror");
    ok(&sync(&lifecycle.registry.index_url(), &mirror, &trust));
    let served = MirrorServer::start(&mirror);
    let pinned = ["--root-key", root.to_str().ok_or("a UTF-8 path")?];

    // Before the advisory the affected version installs through the mirror.
    let before = work.path().join("before");
    ok(&install_from(
        &index_of(&served),
        &before,
        &[&["widget@=1.1.0"], &pinned[..]].concat(),
    ));
    assert!(installed(&before).contains("widget 1.1.0"));

    // The advisory at the origin; the next sync verifies the feed and names what it affects.
    publish_advisory(&lifecycle);
    let synced = sync(&lifecycle.registry.index_url(), &mirror, &trust);
    assert!(synced.status.success(), "{}", describe(&synced));
    assert!(
        stdout(&synced).contains(&format!(
            "mirrored versions under an advisory: widget 1.1.0 ({ADVISORY}, critical)"
        )),
        "{}",
        stdout(&synced)
    );

    // The installer, through the mirror and pinned to the origin's key, refuses it.
    let refused = install_from(
        &index_of(&served),
        &work.path().join("refused"),
        &[&["widget@=1.1.0"], &pinned[..]].concat(),
    );
    assert!(
        stderr(&refused).starts_with(&format!(
            "error[advisory]: widget 1.1.0 is affected by advisory {ADVISORY}"
        )),
        "{}",
        stderr(&refused)
    );
    assert!(!work.path().join("refused/current").exists());

    // The mirror refuses the older feed replayed by its upstream and stays as it was.
    let proxy = TamperProxy::start(&lifecycle.registry.url());
    proxy.set(vec![Rule::exact(
        "/index/.wharf/lifecycle",
        Action::Replace(old_feed.clone().into_bytes()),
    )]);
    let held = std::fs::read_link(mirror.join("current"))?;
    let replayed = sync(&proxy.index_url(), &mirror, &trust);
    assert_eq!(replayed.status.code(), Some(2), "{}", describe(&replayed));
    let said = String::from_utf8_lossy(&replayed.stderr);
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.contains("(a replayed feed)"), "{said}");
    assert_eq!(std::fs::read_link(mirror.join("current"))?, held);

    // An installer that has seen the newer feed refuses the older one in the same directory.
    let dir = work.path().join("remembers");
    ok(&install_from(
        &index_of(&served),
        &dir,
        &[&["widget@=1.0.0"], &pinned[..]].concat(),
    ));
    let older = install_from(
        &proxy.index_url(),
        &dir,
        &[&["widget@=1.0.0"], &pinned[..]].concat(),
    );
    assert_eq!(older.status.code(), Some(5), "{}", stderr(&older));
    assert_eq!(
        stderr(&older).trim().lines().count(),
        1,
        "{}",
        stderr(&older)
    );
    assert!(
        stderr(&older).contains("older than the serial"),
        "{}",
        stderr(&older)
    );
    Ok(())
}

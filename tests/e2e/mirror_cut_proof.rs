//! A partial copy made with `--roots` cuts versions out of a file, so the file it serves is
//! not in the origin's signed snapshot. It serves the origin's whole file beside it
//! (`/index/.wharf/origin/<path>`), and `wharf verify` with the origin's pinned root proves
//! the cut file through it: the versions cut are reported as cut and verification passes;
//! a served line the whole file does not have, or a whole file the snapshot does not name
//! (a stale one hiding a newer version), fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wharf_e2e_tests::upload::{publish_body, publish_body_with_deps};
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};

use crate::mirror_partial::get;
use crate::mirror_serve::MirrorServer;

fn publish(registry: &TestRegistry, body: Vec<u8>) -> TestResult {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(body)
        .send()?;
    assert_eq!(response.status(), 200);
    Ok(())
}

fn sync(from: &str, mirror: &Path, extra: &[&str]) -> Output {
    Command::new(wharf_binary())
        .args(["mirror", "sync", "--from", from])
        .arg("--data")
        .arg(mirror)
        .args(extra)
        .output()
        .expect("wharf runs")
}

/// A partial sync of `upstream` into `mirror` keeping the closure of `top` only, trusting
/// what `trust` (`--trust FILE`) names.
fn sync_top(upstream: &TestRegistry, mirror: &Path, trust: &[&str]) -> Output {
    sync(
        &upstream.index_url(),
        mirror,
        &[&["--roots", "top"][..], trust].concat(),
    )
}

/// `wharf verify NAMES…` against the mirror at `url`, pinning `root`, with a fresh state.
pub(crate) fn verify(url: &str, root: &Path, state: &Path, names: &[&str]) -> Output {
    Command::new(wharf_binary())
        .args(["verify", "--index-url", &format!("sparse+{url}/index/")])
        .arg("--root-key")
        .arg(root)
        .arg("--state")
        .arg(state)
        .args(names)
        .output()
        .expect("wharf runs")
}

/// The packages the tests verify: `top` depends on `leaf` `^1`.
const NAMES: &[&str] = &["leaf", "top"];

/// An upstream holding `leaf` at `leaf_versions` and `top` 0.1.0 depending on `leaf` `^1`,
/// settled, with a directory holding its exported root key (`root.pub`, also returned).
fn leaf_and_top(leaf_versions: &[&str]) -> TestResult<(TestRegistry, tempfile::TempDir, PathBuf)> {
    let upstream = TestRegistry::start();
    for version in leaf_versions {
        publish(&upstream, publish_body("leaf", version))?;
    }
    publish(
        &upstream,
        publish_body_with_deps("top", "0.1.0", &[("leaf", "^1")]),
    )?;
    upstream.settle();
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root.pub");
    upstream.export_root_key(&root);
    Ok((upstream, dir, root))
}

#[test]
fn a_cut_file_is_proven_through_the_origins_whole_file_and_tampering_fails() -> TestResult {
    let (upstream, dir, root) = leaf_and_top(&["1.0.0", "2.0.0"])?;
    let trust = ["--trust", root.to_str().ok_or("a UTF-8 path")?];

    // `--roots top` keeps `leaf` 1.0.0 only: `leaf`'s file is cut.
    let mirror = dir.path().join("mirror");
    let synced = sync_top(&upstream, &mirror, &trust);
    assert!(synced.status.success(), "{}", describe(&synced));
    let served = MirrorServer::start(&mirror);
    let origin_leaf = upstream
        .http()
        .get(format!("{}/index/le/af/leaf", upstream.url()))
        .send()?
        .bytes()?
        .to_vec();
    let (status, whole) = get(&format!("{}/index/.wharf/origin/le/af/leaf", served.url))?;
    assert_eq!(status, 200);
    assert_eq!(whole, origin_leaf, "the origin's whole file, byte for byte");
    let (status, cut) = get(&format!("{}/index/le/af/leaf", served.url))?;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(cut.clone())?.lines().count(), 1);
    // `top` is held whole: no origin file is kept for it.
    let (status, _) = get(&format!("{}/index/.wharf/origin/3/t/top", served.url))?;
    assert_eq!(status, 404);

    // A client that pinned the origin's root verifies the copy; the cut version is a note.
    let verified = verify(&served.url, &root, &dir.path().join("state-1"), NAMES);
    assert!(verified.status.success(), "{}", describe(&verified));
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(
        said.contains("note: crate `leaf` version `2.0.0`: cut by this partial copy"),
        "{said}"
    );
    assert!(said.contains("verified 2 packages"), "{said}");

    // A served line the origin's whole file does not have fails.
    let served_leaf = mirror.join("current/index/le/af/leaf");
    let tampered = String::from_utf8(cut.clone())?.replace("\"yanked\":false", "\"yanked\":true");
    assert_ne!(tampered.as_bytes(), cut.as_slice());
    std::fs::write(&served_leaf, &tampered)?;
    let refused = verify(&served.url, &root, &dir.path().join("state-2"), NAMES);
    assert!(!refused.status.success(), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(
        said.contains("fabricated line: line 1 of ")
            && said.contains("is not a line of the origin's whole file"),
        "{said}"
    );
    std::fs::write(&served_leaf, &cut)?;

    // A newer version upstream; a copy that serves the old whole file to hide it fails.
    publish(&upstream, publish_body("leaf", "1.1.0"))?;
    upstream.settle();
    let again = sync_top(&upstream, &mirror, &trust);
    assert!(again.status.success(), "{}", describe(&again));
    let verified = verify(&served.url, &root, &dir.path().join("state-3"), NAMES);
    assert!(verified.status.success(), "{}", describe(&verified));
    std::fs::write(mirror.join("current/index/le/af/leaf"), &cut)?;
    std::fs::write(mirror.join("current/origin/le/af/leaf"), &whole)?;
    let stale = verify(&served.url, &root, &dir.path().join("state-4"), NAMES);
    assert!(!stale.status.success(), "{}", describe(&stale));
    let said = String::from_utf8_lossy(&stale.stdout);
    assert!(
        said.contains("is not the one the origin's signed snapshot names"),
        "{said}"
    );
    Ok(())
}

#[test]
fn a_mirror_of_a_partial_mirror_keeps_the_origins_whole_files_and_verifies() -> TestResult {
    let (upstream, dir, root) = leaf_and_top(&["1.0.0", "1.1.0", "2.0.0"])?;
    let trust = ["--trust", root.to_str().ok_or("a UTF-8 path")?];
    let origin_leaf = upstream
        .http()
        .get(format!("{}/index/le/af/leaf", upstream.url()))
        .send()?
        .bytes()?
        .to_vec();

    // The partial mirror cuts `leaf` to 1.0.0 and 1.1.0.
    let partial = dir.path().join("partial");
    let synced = sync_top(&upstream, &partial, &trust);
    assert!(synced.status.success(), "{}", describe(&synced));
    let partial_served = MirrorServer::start(&partial);
    let from = format!("sparse+{}/index/", partial_served.url);

    // A whole mirror of it keeps the origin's whole file of the cut file, byte for byte, and
    // verifies against the origin's root (a second sync takes it unchanged, whole file too).
    let second = dir.path().join("second");
    for state in ["state-second-1", "state-second-2"] {
        let again = sync(&from, &second, &trust);
        assert!(again.status.success(), "{}", describe(&again));
        assert_eq!(
            std::fs::read(second.join("current/origin/le/af/leaf"))?,
            origin_leaf
        );
        let served = MirrorServer::start(&second);
        let verified = verify(&served.url, &root, &dir.path().join(state), NAMES);
        assert!(verified.status.success(), "{}", describe(&verified));
        let said = String::from_utf8_lossy(&verified.stdout);
        assert!(
            said.contains("note: crate `leaf` version `2.0.0`: cut by this partial copy"),
            "{said}"
        );
    }
    assert!(!second.join("current/origin/3/t/top").exists());

    // A mirror of it that cuts further keeps the origin's whole file, not the cut one it got.
    let third = dir.path().join("third");
    let cut = sync(
        &from,
        &third,
        &[&["--roots", "leaf@~1.0"][..], &trust[..]].concat(),
    );
    assert!(cut.status.success(), "{}", describe(&cut));
    let held = std::fs::read_to_string(third.join("current/index/le/af/leaf"))?;
    assert_eq!(held.lines().count(), 1, "{held}");
    assert_eq!(
        std::fs::read(third.join("current/origin/le/af/leaf"))?,
        origin_leaf
    );
    let served = MirrorServer::start(&third);
    let verified = verify(
        &served.url,
        &root,
        &dir.path().join("state-third"),
        &["leaf"],
    );
    assert!(verified.status.success(), "{}", describe(&verified));
    let said = String::from_utf8_lossy(&verified.stdout);
    for version in ["1.1.0", "2.0.0"] {
        assert!(
            said.contains(&format!(
                "note: crate `leaf` version `{version}`: cut by this partial copy"
            )),
            "{said}"
        );
    }
    Ok(())
}

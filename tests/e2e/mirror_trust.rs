//! `wharf mirror sync` checks the upstream's signed log: the root key pinned with `--trust`
//! (or trusted on first use and recorded), every copied version's release leaf and its
//! signature, and the new checkpoint against the one kept from the previous sync. A version
//! whose signature does not verify is left out and named; a rolled-back log stops the sync
//! and leaves `current` as it was.

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::forged_log::{ForgedLog, StolenKeys};
use wharf_e2e_tests::tamper_proxy::{Action, Rule};
use wharf_e2e_tests::verify_setup::{VerifySetup, publish};
use wharf_e2e_tests::{TestResult, describe, wharf_binary};
use wharf_index_format::index_path;

const TIMESTAMP: &str = "/index/.wharf/timestamp";
const CHECKPOINT: &str = "/api/wharf/v1/log/checkpoint";
const BINS: &str = "/index/.wharf/bins";

/// `wharf mirror sync` through the setup's proxy into `mirror`, with `extra` arguments.
fn sync(setup: &VerifySetup, mirror: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    Command::new(wharf_binary())
        .args(["mirror", "sync", "--from"])
        .arg(setup.proxy.index_url())
        .arg("--data")
        .arg(mirror)
        .args(extra)
        .output()
        .expect("wharf runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The file the mirror serves for `name`, as text.
fn mirrored(mirror: &Path, name: &str) -> String {
    std::fs::read_to_string(mirror.join("current/index").join(index_path(name))).unwrap_or_default()
}

#[test]
fn a_pinned_root_key_verifies_the_upstream_and_a_wrong_one_changes_nothing() -> TestResult {
    let setup = VerifySetup::start();
    let work = tempfile::tempdir()?;
    let root = setup.client.path().join("root.pub");

    // Pinned: every version copied, the summary names the key and how it was pinned.
    let mirror = work.path().join("pinned");
    let pinned = sync(&setup, &mirror, &["--trust".as_ref(), root.as_os_str()]);
    assert!(pinned.status.success(), "{}", describe(&pinned));
    let said = stdout(&pinned);
    assert!(said.contains("3 versions"), "{said}");
    assert!(
        said.contains("the upstream's log of 3 leaves verified against root key wharf-ed25519:"),
        "{said}"
    );
    assert!(said.contains("(pinned with --trust)"), "{said}");
    assert_eq!(
        mirrored(&mirror, "demo-pkg").into_bytes(),
        setup.fetch(&format!("/index/{}", index_path("demo-pkg")))
    );

    // Without --trust: the upstream's root key is trusted on first use, recorded, and said.
    let first_use = work.path().join("first-use");
    let tofu = sync(&setup, &first_use, &[]);
    assert!(tofu.status.success(), "{}", describe(&tofu));
    assert!(
        stdout(&tofu).contains("trusted on first use"),
        "{}",
        stdout(&tofu)
    );
    assert_eq!(
        std::fs::read_to_string(first_use.join("trust/root.pub"))?,
        std::fs::read_to_string(&root)?
    );
    let again = sync(&setup, &first_use, &[]);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        stdout(&again).contains("(recorded at the first sync in "),
        "{}",
        stdout(&again)
    );

    // Another root key: one line, exit 2, no copy made.
    let other = work.path().join("other.pub");
    let key = wharf_trust::SigningKey::generate();
    std::fs::write(&other, format!("{}\n", key.public_key()))?;
    let wrong = work.path().join("wrong");
    let refused = sync(&setup, &wrong, &["--trust".as_ref(), other.as_os_str()]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("the upstream's signed log does not verify"),
        "{stderr}"
    );
    assert!(!wrong.join("current").exists());
    Ok(())
}

#[test]
fn a_version_whose_signature_does_not_verify_is_left_out_and_named() -> TestResult {
    let setup = VerifySetup::start();
    let work = tempfile::tempdir()?;
    let root = setup.client.path().join("root.pub");

    // The release leaf of demo-pkg 1.1.0 carries another leaf's registry signature; the log
    // is rebuilt and signed again with the registry's stolen online keys, so the head
    // verifies and only that release's signature does not.
    let mut forged = ForgedLog::of(&setup.registry);
    let leaf_text = |leaf: &[u8]| String::from_utf8_lossy(leaf).into_owned();
    let target = forged
        .leaves
        .iter()
        .position(|leaf| {
            let text = leaf_text(leaf);
            text.contains("name: demo-pkg\n") && text.contains("version: 1.1.0\n")
        })
        .ok_or("the release leaf of demo-pkg 1.1.0")?;
    let signature = |leaf: &[u8]| {
        leaf_text(leaf)
            .lines()
            .find(|line| line.starts_with("signature: "))
            .map(str::to_owned)
            .expect("a signature line")
    };
    let theirs = signature(&forged.leaves[target]);
    let other = signature(&forged.leaves[(target + 1) % forged.leaves.len()]);
    assert_ne!(theirs, other);
    forged.rewrite_leaf(target, &theirs, &other);
    let keys = StolenKeys::of(&setup.registry);
    setup
        .proxy
        .set(forged.rules(&keys, &setup.fetch(TIMESTAMP)));

    let mirror = work.path().join("mirror");
    let synced = sync(&setup, &mirror, &["--trust".as_ref(), root.as_os_str()]);
    assert_eq!(synced.status.code(), Some(1), "{}", describe(&synced));
    let said = stdout(&synced);
    assert!(
        said.lines().any(|line| line
            .starts_with("left out: crate `demo-pkg` version `1.1.0`: bad signature: leaf")),
        "{said}"
    );
    let demo = mirrored(&mirror, "demo-pkg");
    assert_eq!(demo.lines().count(), 1, "{demo}");
    assert!(demo.contains("\"vers\":\"1.0.0\""), "{demo}");
    assert_eq!(
        mirrored(&mirror, "other-pkg").into_bytes(),
        setup.fetch(&format!("/index/{}", index_path("other-pkg")))
    );
    // The blob of the version left out (fetched while the log was replayed) left the store.
    let upstream = String::from_utf8(setup.fetch(&format!("/index/{}", index_path("demo-pkg"))))?;
    for line in upstream.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)?;
        let cksum = entry["cksum"].as_str().ok_or("a cksum")?;
        let stored = mirror.join("blobs/sha256").join(cksum).exists();
        assert_eq!(stored, entry["vers"] == "1.0.0", "{line}");
    }
    Ok(())
}

#[test]
fn a_rolled_back_upstream_stops_the_sync_and_leaves_current_as_it_was() -> TestResult {
    let setup = VerifySetup::start();
    let work = tempfile::tempdir()?;
    let root = setup.client.path().join("root.pub");
    let trust = ["--trust".as_ref(), root.as_os_str()];
    let mirror = work.path().join("mirror");

    // The head at 3 leaves, kept to be served again later.
    let old: Vec<(String, Vec<u8>)> = [TIMESTAMP, CHECKPOINT, BINS]
        .into_iter()
        .map(|path| (path.to_owned(), setup.fetch(path)))
        .collect();
    let first = sync(&setup, &mirror, &trust);
    assert!(first.status.success(), "{}", describe(&first));

    // The upstream moves on to 4 leaves and the mirror follows.
    publish(&setup.registry, "demo-pkg", "1.2.0");
    setup.registry.settle();
    let second = sync(&setup, &mirror, &trust);
    assert!(second.status.success(), "{}", describe(&second));
    assert!(
        stdout(&second).contains("log of 4 leaves"),
        "{}",
        stdout(&second)
    );
    let served = std::fs::read_link(mirror.join("current"))?;
    let demo = mirrored(&mirror, "demo-pkg");
    assert_eq!(demo.lines().count(), 3, "{demo}");

    // Then it serves the older head: the sync stops with one line, `current` unchanged.
    setup.proxy.set(
        old.into_iter()
            .map(|(path, body)| Rule::exact(&path, Action::Replace(body)))
            .collect(),
    );
    let rolled_back = sync(&setup, &mirror, &trust);
    assert_eq!(
        rolled_back.status.code(),
        Some(2),
        "{}",
        describe(&rolled_back)
    );
    let stderr = String::from_utf8_lossy(&rolled_back.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("rollback: checkpoint 3 is older than the 4 already seen"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_link(mirror.join("current"))?, served);
    assert_eq!(mirrored(&mirror, "demo-pkg"), demo);
    Ok(())
}

//! A partial mirror (`--include`) lists only the files it holds (`/index/.wharf/bins`), serves
//! the origin's signed snapshot apart (`/index/.wharf/origin-bins`), and is still verified
//! against the origin's root key: `wharf verify` checks a file it holds, and a mirror of it
//! copies what it holds, checked against the origin's signatures, with nothing left out.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, http_client_builder, wharf_binary};

use crate::mirror_serve::MirrorServer;

fn sync(from: &str, mirror: &Path, extra: &[&str]) -> Output {
    Command::new(wharf_binary())
        .args(["mirror", "sync", "--from", from])
        .arg("--data")
        .arg(mirror)
        .args(extra)
        .output()
        .expect("wharf runs")
}

pub(crate) fn get(url: &str) -> TestResult<(u16, Vec<u8>)> {
    let response = http_client_builder().build()?.get(url).send()?;
    Ok((response.status().as_u16(), response.bytes()?.to_vec()))
}

/// Every `<index path> <sha256>` the 256 bins under `base` (`…/index/.wharf/bins`) list.
pub(crate) fn listed(base: &str) -> TestResult<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for bin in 0..=255u8 {
        let (status, body) = get(&format!("{base}/{bin:02x}"))?;
        assert_eq!(status, 200, "{base}/{bin:02x}");
        for line in String::from_utf8(body)?.lines() {
            let (path, hash) = line.split_once(' ').ok_or("a bin line")?;
            files.insert(path.to_owned(), hash.to_owned());
        }
    }
    Ok(files)
}

#[test]
fn a_partial_mirror_lists_only_what_it_holds_and_still_verifies_against_the_origin() -> TestResult {
    let upstream = TestRegistry::start();
    for name in ["aa", "bbb", "cc"] {
        let response = upstream
            .http()
            .put(format!("{}/api/v1/crates/new", upstream.url()))
            .header("Authorization", &upstream.admin_token)
            .body(publish_body(name, "1.0.0"))
            .send()?;
        assert_eq!(response.status(), 200);
    }
    upstream.settle();
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root.pub");
    upstream.export_root_key(&root);
    let trust = ["--trust", root.to_str().ok_or("a UTF-8 path")?];

    let partial = dir.path().join("partial");
    let synced = sync(
        &upstream.index_url(),
        &partial,
        &[&["--include", "aa"][..], &trust[..]].concat(),
    );
    assert!(synced.status.success(), "{}", describe(&synced));
    let served = MirrorServer::start(&partial);

    // The listing names exactly the file the mirror holds, with the hash of what it serves.
    let listing = listed(&format!("{}/index/.wharf/bins", served.url))?;
    assert_eq!(listing.keys().collect::<Vec<_>>(), ["2/aa"]);
    for (path, hash) in &listing {
        let (status, body) = get(&format!("{}/index/{path}", served.url))?;
        assert_eq!(status, 200, "{path}");
        assert_eq!(&wharf_trust::Hash::sha256(&body).to_hex(), hash);
    }
    // The origin's signed snapshot, byte for byte, is served apart.
    let origin_list = get(&format!("{}/index/.wharf/origin-bins", served.url))?;
    assert_eq!(origin_list.0, 200);
    assert_eq!(
        origin_list.1,
        upstream
            .http()
            .get(format!("{}/index/.wharf/bins", upstream.url()))
            .send()?
            .bytes()?
            .to_vec()
    );
    let origin = listed(&format!("{}/index/.wharf/origin-bins", served.url))?;
    assert_eq!(
        origin.keys().collect::<Vec<_>>(),
        ["2/aa", "2/cc", "3/b/bbb"]
    );

    // A client that pinned the origin's root key verifies the file the mirror holds.
    let verified = Command::new(wharf_binary())
        .args([
            "verify",
            "--index-url",
            &format!("sparse+{}/index/", served.url),
        ])
        .arg("--root-key")
        .arg(&root)
        .arg("--state")
        .arg(dir.path().join("verify-state"))
        .arg("aa")
        .output()?;
    assert!(verified.status.success(), "{}", describe(&verified));

    // A mirror of the partial mirror copies what it lists, checked against the origin's
    // signatures: nothing is asked that the partial mirror does not hold, nothing left out.
    let second = dir.path().join("second");
    let again = sync(&format!("sparse+{}/index/", served.url), &second, &trust);
    assert!(again.status.success(), "{}", describe(&again));
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("1 packages, 1 versions"), "{said}");
    assert!(said.contains("0 left out"), "{said}");
    assert!(!said.contains("left out:"), "{said}");
    assert_eq!(
        std::fs::read(second.join("current/index/2/aa"))?,
        std::fs::read(partial.join("current/index/2/aa"))?
    );
    // It keeps the origin's snapshot to serve again, and lists only what it holds.
    assert_eq!(
        std::fs::read(second.join("current/snapshot/bins"))?,
        origin_list.1
    );
    assert!(second.join("current/listing/bins").exists());
    Ok(())
}

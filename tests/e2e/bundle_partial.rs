//! A copy imported from a bundle of a package selection (`--roots`) lists only the index
//! files it holds (`/index/.wharf/bins`), serves the origin's signed snapshot apart
//! (`/index/.wharf/origin-bins`) with the signed head, and a verifier pinning the origin's
//! root key proves the files it holds against them, as with a partial `wharf mirror sync`.

use std::process::Command;

use wharf_e2e_tests::verify_setup::publish;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};

use crate::bundle::{export, import, keys};
use crate::mirror_partial::{get, listed};
use crate::mirror_serve::MirrorServer;

#[test]
fn a_partial_bundle_import_lists_only_what_it_holds_and_proves_it_against_the_origin() -> TestResult
{
    let registry = TestRegistry::start();
    for name in ["aa", "bbb", "cc"] {
        publish(&registry, name, "1.0.0");
    }
    registry.settle();
    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&registry, dir.path());
    let bundle = dir.path().join("aa.bundle");
    export(&registry, &key, &root, &bundle, &["--roots", "aa"]);
    let data = dir.path().join("inside");
    let imported = import(&bundle, &data, &exporter_pub, &root, &[]);
    assert!(imported.status.success(), "{}", describe(&imported));
    let served = MirrorServer::start(&data);

    // The listing names exactly the file the copy holds, with the hash of what it serves.
    let listing = listed(&format!("{}/index/.wharf/bins", served.url))?;
    assert_eq!(listing.keys().collect::<Vec<_>>(), ["2/aa"]);
    let (status, body) = get(&format!("{}/index/2/aa", served.url))?;
    assert_eq!(status, 200);
    assert_eq!(wharf_trust::Hash::sha256(&body).to_hex(), listing["2/aa"]);
    // The origin's signed snapshot, byte for byte, is served apart.
    let (status, origin_list) = get(&format!("{}/index/.wharf/origin-bins", served.url))?;
    assert_eq!(status, 200);
    assert_eq!(
        origin_list,
        registry
            .http()
            .get(format!("{}/index/.wharf/bins", registry.url()))
            .send()?
            .bytes()?
            .to_vec()
    );
    let origin = listed(&format!("{}/index/.wharf/origin-bins", served.url))?;
    assert_eq!(
        origin.keys().collect::<Vec<_>>(),
        ["2/aa", "2/cc", "3/b/bbb"]
    );

    // A verifier pinning the origin's root key proves the file the copy holds.
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
    Ok(())
}

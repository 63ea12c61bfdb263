//! A copy imported from a bundle of a package selection (`--roots`) lists only the index
//! files it holds (`/index/.wharf/bins`), serves the origin's signed snapshot apart
//! (`/index/.wharf/origin-bins`) with the signed head, serves only the carried versions'
//! lines with the origin's whole file beside each file so cut, and a verifier pinning the
//! origin's root key proves the files it holds against them, as with a partial `wharf mirror
//! sync`; an altered whole file in the bundle is refused.

use wharf_e2e_tests::verify_setup::publish;
use wharf_e2e_tests::{TestRegistry, TestResult, describe};

use crate::bundle::{export, import, keys, publish_with_deps, resigned};
use crate::mirror_cut_proof::verify;
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
    let verified = verify(
        &served.url,
        &root,
        &dir.path().join("verify-state"),
        &["aa"],
    );
    assert!(verified.status.success(), "{}", describe(&verified));
    Ok(())
}

#[test]
fn a_partial_bundle_import_serves_cut_files_with_the_origins_whole_files_and_verifies() -> TestResult
{
    let registry = TestRegistry::start();
    publish(&registry, "aa", "1.0.0");
    publish(&registry, "aa", "2.0.0");
    publish_with_deps(&registry, "bbb", "1.0.0", &[("aa", "^1")]);
    registry.settle();
    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&registry, dir.path());
    let bundle = dir.path().join("bbb.bundle");
    export(&registry, &key, &root, &bundle, &["--roots", "bbb"]);
    let data = dir.path().join("inside");
    let imported = import(&bundle, &data, &exporter_pub, &root, &[]);
    assert!(imported.status.success(), "{}", describe(&imported));
    let served = MirrorServer::start(&data);

    // `aa` is cut to the version carried; the origin's whole file is served beside it.
    let (status, cut) = get(&format!("{}/index/2/aa", served.url))?;
    assert_eq!(status, 200);
    let cut = String::from_utf8(cut)?;
    assert_eq!(cut.lines().count(), 1, "{cut}");
    assert!(cut.contains(r#""vers":"1.0.0""#), "{cut}");
    let (status, whole) = get(&format!("{}/index/.wharf/origin/2/aa", served.url))?;
    assert_eq!(status, 200);
    let origin_aa = registry
        .http()
        .get(format!("{}/index/2/aa", registry.url()))
        .send()?
        .bytes()?
        .to_vec();
    assert_eq!(whole, origin_aa, "the origin's whole file, byte for byte");
    let (status, _) = get(&format!("{}/index/.wharf/origin/3/b/bbb", served.url))?;
    assert_eq!(status, 404, "`bbb` is held whole");

    // A client that pinned the origin's root verifies the copy; the cut version is a note.
    let verified = verify(
        &served.url,
        &root,
        &dir.path().join("state"),
        &["aa", "bbb"],
    );
    assert!(verified.status.success(), "{}", describe(&verified));
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(
        said.contains("note: crate `aa` version `2.0.0`: cut by this partial copy"),
        "{said}"
    );

    // A whole file altered in the bundle, even with the MANIFEST signed again, is refused
    // and nothing is imported.
    let altered = dir.path().join("altered.bundle");
    resigned(&bundle, &altered, &key, "http/index/2/aa", |body| {
        let text = String::from_utf8_lossy(body).replace(r#""vers":"2.0.0""#, r#""vers":"2.0.1""#);
        *body = text.into_bytes();
    });
    let elsewhere = dir.path().join("elsewhere");
    let refused = import(&altered, &elsewhere, &exporter_pub, &root, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("does not verify"), "{said}");
    assert!(!elsewhere.join("current").exists());
    Ok(())
}

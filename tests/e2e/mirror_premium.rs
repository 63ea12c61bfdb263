//! Premium packages through `wharf mirror sync`: the sync fetches the upstream's entitlement
//! information, checks its key against the keyset from the pinned root key, and writes it into
//! the copy, so `wharf serve --data` refuses a premium blob without a valid licence (403
//! naming the check) as the upstream does. Without `--licence` the premium packages are
//! skipped and named; with one their blobs are fetched presenting it; a package made premium
//! upstream after a sync is protected on the mirror after the next sync.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wharf_e2e_tests::tamper_proxy::{Action, Rule};
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{
    TamperProxy, TestRegistry, TestResult, describe, http_client_builder, wharf_binary,
};

use crate::mirror_serve::MirrorServer;

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `wharf mirror sync` of `upstream` into `mirror`, pinned to `root`, with `extra` arguments.
fn sync(upstream: &TestRegistry, mirror: &Path, root: &Path, extra: &[&str]) -> Output {
    sync_from(&upstream.index_url(), mirror, root, extra)
}

/// `wharf mirror sync --from INDEX_URL` into `mirror`, pinned to `root`.
fn sync_from(index_url: &str, mirror: &Path, root: &Path, extra: &[&str]) -> Output {
    Command::new(wharf_binary())
        .args(["mirror", "sync", "--from", index_url])
        .arg("--data")
        .arg(mirror)
        .arg("--trust")
        .arg(root)
        .args(extra)
        .env_remove("WHARF_MIRROR_TOKEN")
        .output()
        .expect("wharf runs")
}

/// The `cksum` of `name` 1.0.0 at `base` (a registry or a mirror).
fn cksum_of(base: &str, name: &str) -> TestResult<String> {
    let path = wharf_index_format::index_path(name);
    let line = http_client_builder()
        .build()?
        .get(format!("{base}/index/{path}"))
        .send()?
        .error_for_status()?
        .text()?;
    let entry: serde_json::Value = serde_json::from_str(line.trim())?;
    Ok(entry["cksum"].as_str().ok_or("a cksum")?.to_owned())
}

/// Downloads `name` 1.0.0 from the mirror at `url` by version and by blob, with `licence`:
/// both answers must agree; returns the status and the body.
fn download(
    url: &str,
    name: &str,
    cksum: &str,
    licence: Option<&str>,
) -> TestResult<(u16, String)> {
    let http = http_client_builder().build()?;
    let mut answers = Vec::new();
    for target in [
        format!("{url}/api/v1/crates/{name}/1.0.0/download"),
        format!("{url}/blobs/sha256/{cksum}"),
    ] {
        let mut request = http.get(target);
        if let Some(licence) = licence {
            request = request.header("Wharf-Licence", licence);
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let body = response.bytes()?;
        let shown = if status == 200 {
            wharf_trust::Hash::sha256(&body).to_hex()
        } else {
            String::from_utf8_lossy(&body).into_owned()
        };
        answers.push((status, shown));
    }
    assert_eq!(answers[0], answers[1], "{answers:?}");
    Ok(answers.swap_remove(0))
}

/// `/api/wharf/v1/entitlements` at `base`.
fn entitlements(base: &str) -> TestResult<serde_json::Value> {
    Ok(http_client_builder()
        .build()?
        .get(format!("{base}/api/wharf/v1/entitlements"))
        .send()?
        .error_for_status()?
        .json()?)
}

#[test]
#[allow(clippy::too_many_lines)] // one upstream, three syncs, every answer of the mirror
fn a_synced_mirror_checks_premium_downloads_like_its_upstream() -> TestResult {
    let origin = TestRegistry::start();
    let alice = origin.create_token("alice", &[]);
    for name in ["paid-plugin", "later", "free"] {
        let response = origin
            .http()
            .put(format!("{}/api/v1/crates/new", origin.url()))
            .header("Authorization", &alice)
            .body(publish_body(name, "1.0.0"))
            .send()?;
        assert_eq!(response.status().as_u16(), 200, "{}", response.text()?);
    }
    origin.settle();
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root.pub");
    origin.export_root_key(&root);
    let entitlement = dir.path().join("entitlement.key");
    ok(&Command::new(wharf_binary())
        .args(["keys", "new", "--out"])
        .arg(&entitlement)
        .output()?);
    ok(&origin.run_on_data(
        &["admin", "licence", "trust-key"],
        &["--key", path(&entitlement)],
    ));
    ok(&origin.run_on_data(&["admin", "premium", "set"], &["paid-plugin"]));
    let issue = |file: &str, package: &str| -> TestResult<PathBuf> {
        let args = [
            "--key",
            path(&entitlement),
            "--licensee",
            "alice",
            "--package",
            package,
            "--expires",
            "30d",
        ];
        let text = ok(&origin.run_on_data(&["admin", "licence", "issue"], &args));
        let file = dir.path().join(file);
        std::fs::write(&file, text.trim())?;
        Ok(file)
    };
    let valid = issue("valid.lic", "*")?;
    let other = issue("other.lic", "paid-*")?;
    let read = |file: &Path| std::fs::read_to_string(file).map(|text| text.trim().to_owned());
    let paid = cksum_of(&origin.url(), "paid-plugin")?;
    let later = cksum_of(&origin.url(), "later")?;

    // Without a licence the premium package is skipped, named, and kept out of the index.
    let mirror = dir.path().join("mirror");
    let said = ok(&sync(&origin, &mirror, &root, &[]));
    assert!(
        said.contains("skipped: crate `paid-plugin` (every version): it is premium upstream"),
        "{said}"
    );
    assert!(
        said.contains("1 premium packages skipped for lack of a licence"),
        "{said}"
    );
    assert!(!mirror.join("current/index/pa/id/paid-plugin").exists());
    let served = MirrorServer::start(&mirror);
    assert_eq!(entitlements(&served.url)?, entitlements(&origin.url())?);
    assert_eq!(
        download(&served.url, "later", &later, None)?,
        (200, later.clone())
    );

    // With a licence (and the token of its licensee) the premium blob is mirrored, and the
    // mirror checks every download of it.
    let licensed = ["--token", alice.as_str(), "--licence", path(&valid)];
    let said = ok(&sync(&origin, &mirror, &root, &licensed));
    assert!(!said.contains("skipped"), "{said}");
    let cases = [
        (None, "paid-plugin@1.0.0: licence missing"),
        (
            Some(read(&other)?.replace("wharf-licence-v1.", "wharf-licence-v1.x")),
            "paid-plugin@1.0.0: licence malformed",
        ),
    ];
    for (licence, expected) in cases {
        let (status, body) = download(&served.url, "paid-plugin", &paid, licence.as_deref())?;
        assert_eq!(status, 403, "{expected}: {body}");
        assert!(body.contains(expected), "{expected}: {body}");
    }
    assert_eq!(
        download(&served.url, "paid-plugin", &paid, Some(&read(&valid)?))?,
        (200, paid.clone())
    );
    assert_eq!(entitlements(&served.url)?, entitlements(&origin.url())?);
    // `later` is still free.
    assert_eq!(
        download(&served.url, "later", &later, None)?,
        (200, later.clone())
    );

    // Made premium upstream after the sync (its index file unchanged): protected after the
    // next sync.
    ok(&origin.run_on_data(&["admin", "premium", "set"], &["later"]));
    ok(&sync(&origin, &mirror, &root, &licensed));
    let (status, body) = download(&served.url, "later", &later, None)?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("later@1.0.0: licence missing"), "{body}");
    let (status, body) = download(&served.url, "later", &later, Some(&read(&other)?))?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("licence does not cover package `later`"),
        "{body}"
    );
    assert_eq!(
        download(&served.url, "later", &later, Some(&read(&valid)?))?,
        (200, later.clone())
    );
    assert_eq!(entitlements(&served.url)?, entitlements(&origin.url())?);

    // A licence the upstream refuses leaves the version out, with the upstream's reason.
    let refused = sync(
        &origin,
        &dir.path().join("refused"),
        &root,
        &["--token", alice.as_str(), "--licence", path(&other)],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(
        said.contains("left out: crate `later` version `1.0.0`: the upstream refused the licence given with --licence: later@1.0.0: licence does not cover package `later`"),
        "{said}"
    );
    Ok(())
}

#[test]
fn entitlement_information_that_fails_or_names_a_foreign_key_stops_the_sync() -> TestResult {
    let origin = TestRegistry::start();
    let response = origin
        .http()
        .put(format!("{}/api/v1/crates/new", origin.url()))
        .header("Authorization", &origin.admin_token)
        .body(publish_body("free", "1.0.0"))
        .send()?;
    assert_eq!(response.status().as_u16(), 200, "{}", response.text()?);
    origin.settle();
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root.pub");
    origin.export_root_key(&root);
    let proxy = TamperProxy::start(&origin.url());
    let mirror = dir.path().join("mirror");
    let path = "/api/wharf/v1/entitlements";

    // Any failure but 404 stops the sync before anything is written.
    proxy.set(vec![Rule::exact(path, Action::Status(500))]);
    let failed = sync_from(&proxy.index_url(), &mirror, &root, &[]);
    assert_eq!(failed.status.code(), Some(2), "{}", describe(&failed));
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("the upstream's entitlement information `")
            && said.contains("answered 500")
            && said.contains("nothing was synced"),
        "{said}"
    );
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(!mirror.join("current").exists());

    // A key the keyset from the pinned root does not name could mint licences: refused.
    let foreign = wharf_trust::SigningKey::generate().public_key().to_text();
    let forged = serde_json::json!({ "keys": [foreign], "premium": ["free"], "revocations": null });
    proxy.set(vec![Rule::exact(
        path,
        Action::Replace(serde_json::to_vec(&forged)?),
    )]);
    let refused = sync_from(&proxy.index_url(), &mirror, &root, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("is not signed into the registry's keyset"),
        "{said}"
    );
    assert!(!mirror.join("current").exists());

    // 404: a registry without that API has no premium packages.
    proxy.set(vec![Rule::exact(path, Action::Status(404))]);
    ok(&sync_from(&proxy.index_url(), &mirror, &root, &[]));
    assert!(mirror.join("current/index/fr/ee/free").exists());
    assert!(!mirror.join("current/entitlements.json").exists());
    Ok(())
}

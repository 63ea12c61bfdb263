//! Premium packages across an air gap: the entitlement key is signed into the keyset, the
//! bundle carries the keys, the premium list and the revocation list, and a copy imported
//! from it and served by `wharf serve --data` (the origin stopped) refuses each bad licence
//! with a 403 naming the check, serves a valid one, and `wharf install --licence` works
//! against it. A cargo local registry, which checks nothing, gets premium packages only
//! with `--include-premium`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wharf_e2e_tests::upload::publish_body_with_deps;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, http_client_builder, wharf_binary};

use crate::bundle::{import, keys, unpack};
use crate::mirror_serve::MirrorServer;

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `wharf bundle export --data` of `registry` with `extra` arguments.
fn export_data(registry: &TestRegistry, root: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(wharf_binary())
        .args(["bundle", "export", "--all", "--data"])
        .arg(registry.data_dir())
        .args(["--public-url", &registry.url(), "--root-key"])
        .arg(root)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("wharf runs")
}

/// Downloads `paid-plugin` 1.0.0 from `url` by version and by blob, with `licence`:
/// both statuses must agree; returns the status and the body.
fn download(url: &str, cksum: &str, licence: Option<&str>) -> TestResult<(u16, String)> {
    let http = http_client_builder().build()?;
    let mut answers = Vec::new();
    for target in [
        format!("{url}/api/v1/crates/paid-plugin/1.0.0/download"),
        format!("{url}/blobs/sha256/{cksum}"),
    ] {
        let mut request = http.get(target);
        if let Some(licence) = licence {
            request = request.header("Wharf-Licence", licence);
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        answers.push((status, response.text()?));
    }
    assert_eq!(answers[0].0, answers[1].0, "{answers:?}");
    Ok(answers.swap_remove(0))
}

/// `wharf install paid-plugin` from the copy at `url` into a new directory.
fn install(url: &str, licence: &Path) -> TestResult<(Output, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let output = Command::new(wharf_binary())
        .arg("install")
        .args([
            "--index-url",
            &format!("sparse+{url}/index/"),
            "--host-api",
            "1.0.0",
        ])
        .args(["--licence", path(licence), "paid-plugin", "--dir"])
        .arg(dir.path())
        .env_remove("WHARF_TOKEN")
        .output()?;
    Ok((output, dir))
}

#[test]
#[allow(clippy::too_many_lines)] // one origin, one bundle, every refusal through the copy
fn a_premium_package_imported_from_a_bundle_is_checked_offline_like_at_the_origin() -> TestResult {
    let mut origin = TestRegistry::start();
    let alice = origin.create_token("alice", &[]);
    for (name, version, deps) in [
        ("host-api", "1.0.0", &[][..]),
        ("paid-plugin", "1.0.0", &[("host-api", "^1")][..]),
    ] {
        let response = origin
            .http()
            .put(format!("{}/api/v1/crates/new", origin.url()))
            .header("Authorization", &alice)
            .body(publish_body_with_deps(name, version, deps))
            .send()?;
        assert_eq!(response.status().as_u16(), 200, "{}", response.text()?);
    }
    let dir = tempfile::tempdir()?;
    let (exporter, exporter_pub, root) = keys(&origin, dir.path());
    let entitlement = dir.path().join("entitlement.key");
    ok(&Command::new(wharf_binary())
        .args(["keys", "new", "--out"])
        .arg(&entitlement)
        .output()?);
    let trusted = ok(&origin.run_on_data(
        &["admin", "licence", "trust-key"],
        &["--key", path(&entitlement)],
    ));
    let entitlement_pub = trusted.trim().to_owned();
    ok(&origin.run_on_data(&["admin", "premium", "set"], &["paid-plugin"]));
    let issue = |file: &str, args: &[&str]| -> TestResult<PathBuf> {
        let mut all = vec!["--key", path(&entitlement), "--licensee", "alice"];
        all.extend_from_slice(args);
        let text = ok(&origin.run_on_data(&["admin", "licence", "issue"], &all));
        let file = dir.path().join(file);
        std::fs::write(&file, text.trim())?;
        Ok(file)
    };
    let valid = issue(
        "valid.lic",
        &[
            "--package",
            "paid-*",
            "--versions",
            "^1",
            "--expires",
            "30d",
        ],
    )?;
    let expired = issue(
        "expired.lic",
        &[
            "--package",
            "paid-*",
            "--not-before",
            "2020-01-01T00:00:00Z",
            "--expires",
            "2021-01-01T00:00:00Z",
        ],
    )?;
    let wrong_package = issue("other.lic", &["--package", "other", "--expires", "30d"])?;
    let wrong_range = issue(
        "range.lic",
        &[
            "--package",
            "paid-*",
            "--versions",
            ">=2",
            "--expires",
            "30d",
        ],
    )?;
    let revoked = issue(
        "revoked.lic",
        &[
            "--package",
            "paid-*",
            "--expires",
            "30d",
            "--id",
            "lic-revoked",
        ],
    )?;
    ok(&origin.run_on_data(
        &["admin", "licence", "revoke"],
        &["lic-revoked", "--key", path(&entitlement)],
    ));
    let read = |file: &Path| std::fs::read_to_string(file).map(|text| text.trim().to_owned());
    let forged = format!(
        "wharf-licence-v1.{}.{}",
        read(&valid)?.split('.').nth(1).expect("three parts"),
        read(&wrong_package)?
            .split('.')
            .nth(2)
            .expect("three parts")
    );

    // The entitlement key is in the keyset the root key signed, served by the running
    // registry without a restart.
    let chain: serde_json::Value = origin
        .http()
        .get(format!("{}/api/wharf/v1/log/keyset", origin.url()))
        .send()?
        .json()?;
    let newest = chain["keysets"]
        .as_array()
        .and_then(|notes| notes.last())
        .and_then(serde_json::Value::as_str)
        .expect("a keyset chain")
        .to_owned();
    assert!(
        newest.contains(&format!("\nentitlement: {entitlement_pub}\n")),
        "{newest}"
    );

    // A local registry checks nothing: premium packages only with --include-premium.
    let refused = export_data(
        &origin,
        &root,
        &dir.path().join("local"),
        &["--format", "local-registry"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("`paid-plugin` 1.0.0 is premium (1 premium versions chosen) and a cargo local-registry directory checks no licence"),
        "{}",
        describe(&refused)
    );
    assert!(!dir.path().join("local").exists());

    let bundle = dir.path().join("premium.bundle");
    ok(&export_data(
        &origin,
        &root,
        &bundle,
        &["--key", path(&exporter)],
    ));
    let cksum = {
        let line = origin
            .http()
            .get(format!("{}/index/pa/id/paid-plugin", origin.url()))
            .send()?
            .text()?;
        let entry: serde_json::Value = serde_json::from_str(line.trim())?;
        entry["cksum"].as_str().expect("a cksum").to_owned()
    };
    origin.stop();

    let unpacked = dir.path().join("unpacked");
    let refused = unpack(&bundle, &exporter_pub, &root, &unpacked);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--include-premium"),
        "{}",
        describe(&refused)
    );

    let data = dir.path().join("inside");
    ok(&import(&bundle, &data, &exporter_pub, &root, &[]));
    let copy = MirrorServer::start(&data);

    let cases = [
        (None, "paid-plugin@1.0.0: licence missing"),
        (
            Some(read(&expired)?),
            "licence expired at 2021-01-01T00:00:00Z",
        ),
        (
            Some(read(&wrong_package)?),
            "licence does not cover package `paid-plugin`",
        ),
        (
            Some(read(&wrong_range)?),
            "licence covers versions `>=2`, not `1.0.0`",
        ),
        (Some(forged), "licence signature invalid"),
        (
            Some(read(&revoked)?),
            "licence revoked (revocation list serial 1)",
        ),
    ];
    for (licence, expected) in cases {
        let (status, body) = download(&copy.url, &cksum, licence.as_deref())?;
        assert_eq!(status, 403, "{expected}: {body}");
        assert!(body.contains(expected), "{expected}: {body}");
    }
    let (status, body) = download(&copy.url, &cksum, Some(&read(&valid)?))?;
    assert_eq!(status, 200, "{body}");

    // The copy tells an installer what the origin would, and the installer works offline.
    let info: serde_json::Value = http_client_builder()
        .build()?
        .get(format!("{}/api/wharf/v1/entitlements", copy.url))
        .send()?
        .json()?;
    assert_eq!(info["premium"], serde_json::json!(["paid-plugin"]));
    assert_eq!(info["keys"], serde_json::json!([entitlement_pub]));
    let (output, _installed) = install(&copy.url, &expired)?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("licence expired"),
        "{}",
        describe(&output)
    );
    let (output, installed) = install(&copy.url, &valid)?;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(installed.path().join("current").exists());
    Ok(())
}

//! Premium packages over real HTTP: a download needs a licence covering the package and
//! version, and each refusal (missing, expired, wrong package, version outside the range,
//! forged, revoked, licensee mismatch) is a 403 naming the check; the index stays public.

use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_e2e_tests::upload::{publish_body, publish_body_with_deps};
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

/// A registry with `paid-widget` 1.0.0 and 2.0.0 (premium) and `free-widget` 1.0.0 by
/// alice, a trusted entitlement key, and tokens for alice and bob.
struct Premium {
    registry: TestRegistry,
    key: PathBuf,
    alice: String,
    bob: String,
    dir: tempfile::TempDir,
}

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Premium {
    fn start() -> TestResult<Self> {
        let registry = TestRegistry::start();
        let alice = registry.create_token("alice", &[]);
        let bob = registry.create_token("bob", &["read"]);
        for (name, version) in [
            ("paid-widget", "1.0.0"),
            ("paid-widget", "2.0.0"),
            ("free-widget", "1.0.0"),
        ] {
            let response = registry
                .http()
                .put(format!("{}/api/v1/crates/new", registry.url()))
                .header("Authorization", &alice)
                .body(publish_body(name, version))
                .send()?;
            assert_eq!(response.status().as_u16(), 200, "{}", response.text()?);
        }
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("entitlement.key");
        ok(&Command::new(wharf_binary())
            .args(["keys", "new", "--out"])
            .arg(&key)
            .output()?);
        ok(&registry.run_on_data(&["admin", "licence", "trust-key"], &["--key", path(&key)]));
        ok(&registry.run_on_data(&["admin", "premium", "set"], &["paid-widget"]));
        Ok(Self {
            registry,
            key,
            alice,
            bob,
            dir,
        })
    }

    /// `wharf admin licence issue` with `args`, signed by the trusted key.
    fn issue(&self, args: &[&str]) -> String {
        let mut all = vec!["--key", path(&self.key)];
        all.extend_from_slice(args);
        ok(&self
            .registry
            .run_on_data(&["admin", "licence", "issue"], &all))
        .trim()
        .to_owned()
    }

    /// Downloads `name` `version` with an optional token and licence: status and body.
    fn download(
        &self,
        name: &str,
        version: &str,
        token: Option<&str>,
        licence: Option<&str>,
    ) -> TestResult<(u16, String)> {
        let mut request = self.registry.http().get(format!(
            "{}/api/v1/crates/{name}/{version}/download",
            self.registry.url()
        ));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        if let Some(licence) = licence {
            request = request.header("Wharf-Licence", licence);
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let body = if status == 200 {
            String::new()
        } else {
            response.text()?
        };
        Ok((status, body))
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[test]
#[allow(clippy::too_many_lines)] // one registry, every refusal in turn
fn premium_downloads_need_a_licence_and_each_refusal_names_its_check() -> TestResult {
    let premium = Premium::start()?;
    let alice = Some(premium.alice.as_str());
    let valid = premium.issue(&[
        "--licensee",
        "alice",
        "--package",
        "paid-*",
        "--versions",
        ">=1, <2",
        "--expires",
        "30d",
        "--id",
        "lic-valid",
    ]);

    // The index file of a premium package is as public as any other.
    let index = premium
        .registry
        .http()
        .get(format!(
            "{}/index/pa/id/paid-widget",
            premium.registry.url()
        ))
        .send()?;
    assert_eq!(index.status().as_u16(), 200);
    // A free package needs nothing.
    assert_eq!(premium.download("free-widget", "1.0.0", None, None)?.0, 200);

    let (status, body) = premium.download("paid-widget", "1.0.0", alice, None)?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("paid-widget@1.0.0: licence missing"),
        "{body}"
    );

    assert_eq!(
        premium.download("paid-widget", "1.0.0", alice, Some(&valid))?,
        (200, String::new())
    );

    let (status, body) = premium.download("paid-widget", "2.0.0", alice, Some(&valid))?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("licence covers versions `>=1, <2`, not `2.0.0`"),
        "{body}"
    );

    let other = premium.issue(&[
        "--licensee",
        "alice",
        "--package",
        "other-*",
        "--expires",
        "30d",
    ]);
    let (status, body) = premium.download("paid-widget", "1.0.0", alice, Some(&other))?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("licence does not cover package `paid-widget`"),
        "{body}"
    );

    let expired = premium.issue(&[
        "--licensee",
        "alice",
        "--package",
        "paid-widget",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--expires",
        "2021-01-01T00:00:00Z",
    ]);
    let (status, body) = premium.download("paid-widget", "1.0.0", alice, Some(&expired))?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("licence expired at 2021-01-01T00:00:00Z"),
        "{body}"
    );

    // Forged: the terms of the wide licence under the signature of another.
    let wide = premium.issue(&["--licensee", "alice", "--package", "*", "--expires", "30d"]);
    let wide_terms = wide.split('.').nth(1).expect("three parts");
    let other_signature = other.split('.').nth(2).expect("three parts");
    let forged = format!("wharf-licence-v1.{wide_terms}.{other_signature}");
    let (status, body) = premium.download("paid-widget", "1.0.0", alice, Some(&forged))?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("licence signature invalid"), "{body}");

    let (status, body) = premium.download(
        "paid-widget",
        "1.0.0",
        Some(premium.bob.as_str()),
        Some(&valid),
    )?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("licence is issued to `alice`, not to `bob`"),
        "{body}"
    );
    let (status, body) = premium.download("paid-widget", "1.0.0", None, Some(&valid))?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not to `anonymous`"), "{body}");

    ok(&premium.registry.run_on_data(
        &["admin", "licence", "revoke"],
        &["lic-valid", "--key", path(&premium.key)],
    ));
    let (status, body) = premium.download("paid-widget", "1.0.0", alice, Some(&valid))?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("licence revoked (revocation list serial 1)"),
        "{body}"
    );

    // The registry publishes what an installer needs to check licences offline.
    let info: serde_json::Value = premium
        .registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/entitlements",
            premium.registry.url()
        ))
        .send()?
        .json()?;
    assert_eq!(info["premium"], serde_json::json!(["paid-widget"]));
    assert_eq!(info["keys"].as_array().map(Vec::len), Some(1));
    assert!(
        info["revocations"]
            .as_str()
            .is_some_and(|list| list.starts_with("wharf-revocations-v1.")),
        "{info}"
    );
    Ok(())
}

#[test]
fn only_a_trusted_key_issues_and_unset_makes_a_package_free() -> TestResult {
    let premium = Premium::start()?;
    let stranger = premium.dir.path().join("stranger.key");
    ok(&Command::new(wharf_binary())
        .args(["keys", "new", "--out"])
        .arg(&stranger)
        .output()?);
    let refused = premium.registry.run_on_data(
        &["admin", "licence", "issue"],
        &[
            "--key",
            path(&stranger),
            "--licensee",
            "alice",
            "--package",
            "paid-widget",
            "--expires",
            "30d",
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is not a trusted entitlement key of this registry"),
        "{stderr}"
    );
    ok(&premium
        .registry
        .run_on_data(&["admin", "premium", "unset"], &["paid-widget"]));
    assert_eq!(premium.download("paid-widget", "1.0.0", None, None)?.0, 200);
    Ok(())
}

/// `wharf install` into `dir` with `args`, without tokens from the outside.
fn install(registry: &TestRegistry, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(wharf_binary())
        .arg("install")
        .args(["--index-url", &registry.index_url(), "--host-api", "1.0.0"])
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env_remove("WHARF_TOKEN")
        .output()
        .expect("the wharf binary runs")
}

#[test]
#[allow(clippy::too_many_lines)] // one registry, each refusal, then the valid licence
fn the_installer_checks_the_licence_before_downloading_and_the_registry_again() -> TestResult {
    let premium = Premium::start()?;
    for (name, version, deps) in [
        ("host-api", "1.0.0", &[][..]),
        ("paid-plugin", "1.0.0", &[("host-api", "^1")][..]),
    ] {
        let response = premium
            .registry
            .http()
            .put(format!("{}/api/v1/crates/new", premium.registry.url()))
            .header("Authorization", &premium.alice)
            .body(publish_body_with_deps(name, version, deps))
            .send()?;
        assert_eq!(response.status().as_u16(), 200, "{}", response.text()?);
    }
    ok(&premium
        .registry
        .run_on_data(&["admin", "premium", "set"], &["paid-plugin"]));
    premium.registry.settle();
    let files = premium.dir.path();
    let write = |name: &str, args: &[&str]| -> TestResult<PathBuf> {
        let path = files.join(name);
        std::fs::write(&path, premium.issue(args))?;
        Ok(path)
    };
    let base = ["--licensee", "alice", "--package", "paid-*"];
    let valid = write(
        "valid.lic",
        &[&base[..], &["--expires", "30d", "--id", "lic-i"]].concat(),
    )?;
    let expired = write(
        "expired.lic",
        &[
            &base[..],
            &[
                "--not-before",
                "2020-01-01T00:00:00Z",
                "--expires",
                "2021-01-01T00:00:00Z",
            ],
        ]
        .concat(),
    )?;
    let wrong_package = write(
        "other.lic",
        &[
            "--licensee",
            "alice",
            "--package",
            "other",
            "--expires",
            "30d",
        ],
    )?;
    let wrong_range = write(
        "range.lic",
        &[&base[..], &["--versions", ">=2", "--expires", "30d"]].concat(),
    )?;
    let forged = files.join("forged.lic");
    let valid_text = std::fs::read_to_string(&valid)?;
    let other_text = std::fs::read_to_string(&wrong_package)?;
    std::fs::write(
        &forged,
        format!(
            "wharf-licence-v1.{}.{}",
            valid_text.trim().split('.').nth(1).expect("three parts"),
            other_text.trim().split('.').nth(2).expect("three parts")
        ),
    )?;

    let alice = premium.alice.as_str();
    let refusals = [
        (None, "licence missing"),
        (Some(&expired), "licence expired at 2021-01-01T00:00:00Z"),
        (
            Some(&wrong_package),
            "licence does not cover package `paid-plugin`",
        ),
        (
            Some(&wrong_range),
            "licence covers versions `>=2`, not `1.0.0`",
        ),
        (Some(&forged), "licence signature invalid"),
    ];
    for (licence, expected) in refusals {
        let dir = tempfile::tempdir()?;
        let mut args = vec!["--token", alice, "paid-plugin"];
        if let Some(licence) = licence {
            args.extend(["--licence", path(licence)]);
        }
        let output = install(&premium.registry, dir.path(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(
            !dir.path().join("current").exists(),
            "nothing was installed"
        );
    }

    // Valid offline, but the registry knows the token is bob's.
    let dir = tempfile::tempdir()?;
    let output = install(
        &premium.registry,
        dir.path(),
        &[
            "--token",
            &premium.bob,
            "--licence",
            path(&valid),
            "paid-plugin",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("licence is issued to `alice`, not to `bob`"),
        "{stderr}"
    );

    // A valid licence installs, and is remembered for the next run.
    let dir = tempfile::tempdir()?;
    let output = install(
        &premium.registry,
        dir.path(),
        &["--token", alice, "--licence", path(&valid), "paid-plugin"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = std::fs::read_to_string(dir.path().join("wharf-install.toml"))?;
    assert!(config.contains("licence-file"), "{config}");

    // Revoked: the installer reads the registry's signed list and refuses before downloading.
    ok(&premium.registry.run_on_data(
        &["admin", "licence", "revoke"],
        &["lic-i", "--key", path(&premium.key)],
    ));
    let dir = tempfile::tempdir()?;
    let output = install(
        &premium.registry,
        dir.path(),
        &["--token", alice, "--licence", path(&valid), "paid-plugin"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("licence revoked (revocation list serial 1)"),
        "{stderr}"
    );
    Ok(())
}

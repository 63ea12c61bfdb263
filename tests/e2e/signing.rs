//! Publisher keys and signed releases through the real `wharf` binary, the real server and
//! the real cargo: `wharf keys new|register|list|revoke`, `wharf publish --key`, the key
//! bound on a package's first signed release (trust on first use), refusals that change
//! nothing, `require-signatures`, and the threats signing answers (stolen online key or
//! token, revoked and compromised keys, weak keys).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use wharf_e2e_tests::upload::{metadata_json, publish_body};
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, describe, wharf_binary};
use wharf_trust::{KeyId, LogEvent, OwnerKeys, SigningKey, StatementBody, StatementKind, UtcTime};

/// A person publishing to the registry: a token, a cargo home, a scratch directory.
struct Publisher {
    token: String,
    cargo: CargoEnv,
}

impl Publisher {
    fn new(registry: &TestRegistry, user: &str) -> Self {
        let token = if user == "admin" {
            registry.admin_token.clone()
        } else {
            registry.create_token(user, &[])
        };
        let cargo = CargoEnv::new(&registry.index_url());
        cargo.login(&token);
        Self { token, cargo }
    }

    /// Runs `wharf ARGS` with this publisher's cargo home (for `wharf publish`).
    fn wharf(&self, args: &[&str]) -> Output {
        Command::new(wharf_binary())
            .args(args)
            .env("CARGO_HOME", self.cargo.home())
            .env(
                "CARGO_TARGET_DIR",
                std::env::temp_dir().join("wharf-e2e-cargo-target"),
            )
            .env("KEY_PASSPHRASE", "correct horse battery staple")
            .env("WRONG_PASSPHRASE", "incorrect horse")
            .env_remove("WHARF_TOKEN")
            .env_remove("WHARF_REGISTRY")
            .output()
            .expect("the wharf binary runs")
    }

    fn wharf_ok(&self, args: &[&str]) -> String {
        let output = self.wharf(args);
        assert!(
            output.status.success(),
            "wharf {args:?} failed:\n{}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `wharf ARGS`, expects exit 2 and one line on stderr; returns it.
    fn wharf_err(&self, args: &[&str]) -> String {
        let output = self.wharf(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "wharf {args:?}:\n{}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        stderr
    }

    /// `wharf keys new` into the work directory; returns the file and the key id.
    fn new_key(&self, file: &str, encrypted: bool) -> (PathBuf, String) {
        let path = self.cargo.work_dir().join(file);
        let path_text = path.to_str().expect("a UTF-8 temp path");
        let mut args = vec!["keys", "new", "--out", path_text];
        if encrypted {
            args.extend(["--passphrase-env", "KEY_PASSPHRASE"]);
        }
        let printed = self.wharf_ok(&args);
        let id = printed
            .lines()
            .find_map(|line| line.strip_prefix("key id: "))
            .expect("`keys new` prints the key id")
            .to_owned();
        (path, id)
    }

    fn key_args<'a>(&'a self, registry: &'a str, key: &'a Path) -> Vec<&'a str> {
        vec![
            "--registry",
            registry,
            "--token",
            &self.token,
            "--key",
            key.to_str().expect("a UTF-8 temp path"),
        ]
    }

    fn register(&self, registry: &TestRegistry, key: &Path) {
        let url = registry.url();
        let mut args = vec!["keys", "register"];
        args.extend(self.key_args(&url, key));
        self.wharf_ok(&args);
    }

    /// `wharf publish DIR --key FILE --no-verify`.
    fn publish(&self, registry: &TestRegistry, dir: &Path, key: &Path) -> Output {
        let url = registry.url();
        let mut args = vec![
            "publish",
            dir.to_str().expect("a UTF-8 temp path"),
            "--no-verify",
        ];
        args.extend(self.key_args(&url, key));
        self.wharf(&args)
    }

    fn project(&self, name: &str, version: &str) -> PathBuf {
        CrateProject::new(name, version)
            .lib("pub fn answer() -> u32 { 42 }\n")
            .write(self.cargo.work_dir())
    }
}

/// Every leaf of the log, parsed.
fn leaves(registry: &TestRegistry) -> TestResult<Vec<LogEvent>> {
    let http = registry.http();
    let checkpoint = http
        .get(format!("{}/api/wharf/v1/log/checkpoint", registry.url()))
        .send()?
        .text()?;
    let size: u64 = checkpoint.lines().nth(1).ok_or("no size line")?.parse()?;
    let mut events = Vec::new();
    let mut start = 0;
    while start < size {
        let page: serde_json::Value = http
            .get(format!(
                "{}/api/wharf/v1/log/leaves?start={start}&end={size}",
                registry.url()
            ))
            .send()?
            .json()?;
        for leaf in page["leaves"].as_array().ok_or("no leaves")? {
            let text = leaf["leaf"].as_str().ok_or("a leaf is not text")?;
            events.push(LogEvent::parse(text.as_bytes())?);
            start += 1;
        }
    }
    Ok(events)
}

fn key_id(text: &str) -> TestResult<KeyId> {
    Ok(KeyId::parse(text)?)
}

fn signed_by(event: &LogEvent, id: &KeyId) -> bool {
    event.signatures().iter().any(|s| s.key_id == *id)
}

#[test]
fn keys_new_register_list_revoke_round_trip_and_a_wrong_passphrase_is_one_clear_error() -> TestResult
{
    let registry = TestRegistry::start();
    let alice = Publisher::new(&registry, "alice");
    let (key, id) = alice.new_key("alice.key", true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&key)?;
    assert!(
        text.contains("encryption: argon2id-xchacha20poly1305"),
        "{text}"
    );
    // Never replaces a file.
    let before = std::fs::read(&key)?;
    let refused = alice.wharf_err(&["keys", "new", "--out", key.to_str().ok_or("path")?]);
    assert!(refused.contains("never replaced"), "{refused}");
    assert_eq!(std::fs::read(&key)?, before);

    // An encrypted key needs its passphrase, and a wrong one is one clear line.
    let url = registry.url();
    let mut args = vec!["keys", "register"];
    args.extend(alice.key_args(&url, &key));
    let error = alice.wharf_err(&args);
    assert!(error.contains("--passphrase-env"), "{error}");
    let mut wrong = args.clone();
    wrong.extend(["--passphrase-env", "WRONG_PASSPHRASE"]);
    let error = alice.wharf_err(&wrong);
    assert!(error.contains("alice.key"), "{error}");
    assert!(error.contains("passphrase"), "{error}");
    let mut right = args.clone();
    right.extend(["--passphrase-env", "KEY_PASSPHRASE"]);
    let registered = alice.wharf_ok(&right);
    assert!(registered.contains(&id), "{registered}");
    // A key is registered once.
    let again = alice.wharf_err(&right);
    assert!(again.contains("registered already"), "{again}");

    let list = ["keys", "list", "--registry", &url, "--token", &alice.token];
    let listing = alice.wharf_ok(&list);
    let row = listing
        .lines()
        .find(|line| line.starts_with(&id[..16]))
        .ok_or_else(|| format!("no row for {id}: {listing}"))?;
    assert!(row.contains(" - "), "not revoked yet: {row}");

    // Another account sees none of alice's keys, and cannot revoke them.
    let bob = Publisher::new(&registry, "bob");
    let bob_list = bob.wharf_ok(&["keys", "list", "--registry", &url, "--token", &bob.token]);
    assert!(!bob_list.contains(&id[..16]), "{bob_list}");
    let error = bob.wharf_err(&[
        "keys",
        "revoke",
        &id[..16],
        "--registry",
        &url,
        "--token",
        &bob.token,
    ]);
    assert!(error.contains("404"), "{error}");

    alice.wharf_ok(&[
        "keys",
        "revoke",
        &id[..16],
        "--registry",
        &url,
        "--token",
        &alice.token,
    ]);
    let listing = alice.wharf_ok(&list);
    let row = listing
        .lines()
        .find(|line| line.starts_with(&id[..16]))
        .ok_or("the row is still listed")?;
    assert_eq!(
        row.matches(&format!("{}", UtcTime::now())[..4]).count(),
        2,
        "created and revoked times: {row}"
    );
    Ok(())
}

#[test]
fn a_signed_publish_binds_its_key_and_a_release_by_another_key_changes_nothing() -> TestResult {
    let registry = TestRegistry::start();
    let alice = Publisher::new(&registry, "alice");
    let (key, id) = alice.new_key("alice.key", false);
    alice.register(&registry, &key);
    let dir = alice.project("signed-demo", "1.0.0");
    let output = alice.publish(&registry, &dir, &key);
    assert!(output.status.success(), "{}", describe(&output));

    // The log holds the key's binding, then the release signed by it and countersigned.
    let events = leaves(&registry)?;
    let id = key_id(&id)?;
    let add = events
        .iter()
        .position(|e| e.statement().kind() == StatementKind::OwnerKeyAdd)
        .ok_or("no owner-key-add leaf")?;
    let release = events
        .iter()
        .position(|e| e.statement().kind() == StatementKind::Release)
        .ok_or("no release leaf")?;
    assert!(add < release, "the key is bound before the release");
    assert!(signed_by(&events[add], &id));
    assert!(signed_by(&events[release], &id));
    assert_eq!(
        events[release].signatures().len(),
        2,
        "publisher and registry"
    );
    // A client replaying the log accepts both with the package's keys.
    let mut owners = OwnerKeys::new("signed-demo", 1);
    owners.apply(&events[add])?;
    owners.apply(&events[release])?;
    // The served line hashes to the signed entry once Wharf's member is removed.
    let file = registry
        .http()
        .get(format!("{}/index/si/gn/signed-demo", registry.url()))
        .send()?
        .text()?;
    let StatementBody::Release { entry, .. } = events[release].statement().body() else {
        return Err("not a release".into());
    };
    let line = file.lines().next().ok_or("an empty index file")?;
    let leaf = format!(",\"wharf\":{{\"leaf\":{release}}}");
    assert_eq!(
        wharf_trust::Hash::sha256(line.replace(&leaf, "").as_bytes()),
        *entry,
        "{line}"
    );

    // bob, a co-owner with his own registered key, cannot release with it: nothing changes.
    let bob = Publisher::new(&registry, "bob");
    let owners_url = format!("{}/api/v1/crates/signed-demo/owners", registry.url());
    let added = registry
        .http()
        .put(&owners_url)
        .header("Authorization", &alice.token)
        .json(&serde_json::json!({ "users": ["bob"] }))
        .send()?;
    assert_eq!(added.status(), 200, "{}", added.text()?);
    let (bob_key, _) = bob.new_key("bob.key", false);
    bob.register(&registry, &bob_key);
    registry.settle();
    let before = registry.data_snapshot();
    let dir = bob.project("signed-demo", "1.0.1");
    let output = bob.publish(&registry, &dir, &bob_key);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("403"), "{stderr}");
    assert!(stderr.contains("signed-demo"), "{stderr}");
    // An unregistered key fares no better.
    let (stray, _) = bob.new_key("stray.key", false);
    let output = bob.publish(&registry, &dir, &stray);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused release changed the data"
    );
    Ok(())
}

#[test]
fn a_co_owner_key_added_by_a_current_key_can_publish() -> TestResult {
    let registry = TestRegistry::start();
    let url = registry.url();
    let alice = Publisher::new(&registry, "alice");
    let (alice_key, _) = alice.new_key("alice.key", false);
    alice.register(&registry, &alice_key);
    let dir = alice.project("shared", "1.0.0");
    assert!(alice.publish(&registry, &dir, &alice_key).status.success());
    let bob = Publisher::new(&registry, "bob");
    let added = registry
        .http()
        .put(format!("{url}/api/v1/crates/shared/owners"))
        .header("Authorization", &alice.token)
        .json(&serde_json::json!({ "users": ["bob"] }))
        .send()?;
    assert_eq!(added.status(), 200, "{}", added.text()?);
    let (bob_key, bob_id) = bob.new_key("bob.key", false);
    bob.register(&registry, &bob_key);
    let bob_public = wharf_trust::key_file_public_key(&std::fs::read_to_string(&bob_key)?)?;
    let bob_public = bob_public.to_text();

    // bob cannot add his key with his own signature: the package has a key already.
    let mut args = vec!["keys", "add-to", "shared", "--new-key", &bob_public];
    args.extend(bob.key_args(&url, &bob_key));
    let error = bob.wharf_err(&args);
    assert!(error.contains("403"), "{error}");
    // alice signs bob's key in with hers; the log records it, signed by her key.
    let mut args = vec!["keys", "add-to", "shared", "--new-key", &bob_public];
    args.extend(alice.key_args(&url, &alice_key));
    alice.wharf_ok(&args);
    let events = leaves(&registry)?;
    let last = events.last().ok_or("an empty log")?;
    assert_eq!(last.statement().kind(), StatementKind::OwnerKeyAdd);
    // A client replays the package's publisher statements (the registry's own owner-add
    // statement carries no publisher signature).
    let mut owners = OwnerKeys::new("shared", 1);
    for event in events.iter().filter(|event| {
        matches!(
            event.statement().kind(),
            StatementKind::Release | StatementKind::OwnerKeyAdd
        )
    }) {
        owners.apply(event)?;
    }
    assert_eq!(owners.keys().len(), 2);
    let StatementBody::OwnerKeyAdd { key } = last.statement().body() else {
        return Err("not an owner-key-add statement".into());
    };
    assert_eq!(key.key_id().to_string(), bob_id);
    let dir = bob.project("shared", "1.0.1");
    let output = bob.publish(&registry, &dir, &bob_key);
    assert!(output.status.success(), "{}", describe(&output));
    Ok(())
}

#[test]
fn threat_13_a_stolen_token_or_online_key_cannot_publish_for_a_package_with_publisher_keys()
-> TestResult {
    let registry = TestRegistry::start();
    let alice = Publisher::new(&registry, "alice");
    let (key, _) = alice.new_key("alice.key", false);
    alice.register(&registry, &key);
    let dir = alice.project("guarded", "1.0.0");
    assert!(alice.publish(&registry, &dir, &key).status.success());
    registry.settle();
    let before = registry.data_snapshot();

    // The thief has alice's token (and could mint signatures with any key it holds, the
    // registry's own online keys included), but not her publisher key.
    let dir = alice.project("guarded", "1.0.1");
    let stderr = alice
        .cargo
        .cargo_err(&dir, &["publish", "--registry", "wharf", "--no-verify"]);
    assert!(
        stderr.contains("has publisher keys, so its releases must be signed"),
        "{stderr}"
    );
    let online = SigningKey::from_key_file(
        &std::fs::read_to_string(registry.data_dir().join("keys/release.key"))?,
        None,
    )?;
    let json = metadata_json("guarded", "1.0.1").to_string();
    let krate = wharf_e2e_tests::upload::crate_tarball("guarded", "1.0.1");
    let origin = origin(&registry)?;
    let headers = wharf_test_support::signed_publish_headers(
        &online,
        &origin,
        json.as_bytes(),
        &krate,
        UtcTime::now(),
    )?;
    let mut request = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &alice.token)
        .body(wharf_e2e_tests::upload::frame(json.as_bytes(), &krate));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = request.send()?;
    assert_eq!(answer.status(), 403);
    let detail = answer.text()?;
    assert!(detail.contains("0 valid signatures"), "{detail}");
    assert_eq!(registry.data_snapshot(), before);
    Ok(())
}

fn origin(registry: &TestRegistry) -> TestResult<String> {
    let checkpoint = registry
        .http()
        .get(format!("{}/api/wharf/v1/log/checkpoint", registry.url()))
        .send()?
        .text()?;
    Ok(checkpoint
        .lines()
        .next()
        .ok_or("empty checkpoint")?
        .to_owned())
}

#[test]
fn threat_14_a_revoked_key_can_no_longer_publish() -> TestResult {
    let registry = TestRegistry::start();
    let alice = Publisher::new(&registry, "alice");
    let (key, id) = alice.new_key("alice.key", false);
    alice.register(&registry, &key);
    let dir = alice.project("revoking", "1.0.0");
    assert!(alice.publish(&registry, &dir, &key).status.success());
    let url = registry.url();
    alice.wharf_ok(&[
        "keys",
        "revoke",
        &id,
        "--registry",
        &url,
        "--token",
        &alice.token,
    ]);
    registry.settle();
    let before = registry.data_snapshot();
    let dir = alice.project("revoking", "1.0.1");
    let output = alice.publish(&registry, &dir, &key);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("was revoked at"), "{stderr}");
    assert_eq!(registry.data_snapshot(), before);
    // The revocation is in the log, for the package the key signed for.
    let events = leaves(&registry)?;
    let revoke = events.last().ok_or("an empty log")?;
    assert_eq!(revoke.statement().kind(), StatementKind::OwnerKeyRevoke);
    assert_eq!(revoke.statement().name(), "revoking");
    Ok(())
}

#[test]
fn threat_15_releases_logged_after_compromised_since_are_invalid_for_clients() -> TestResult {
    let registry = TestRegistry::start();
    let alice = Publisher::new(&registry, "alice");
    let (key, id) = alice.new_key("alice.key", false);
    alice.register(&registry, &key);
    let dir = alice.project("stolen", "1.0.0");
    assert!(alice.publish(&registry, &dir, &key).status.success());
    // Log times are whole seconds: the theft happens in a later second than the honest
    // release.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = UtcTime::now();
    let dir = alice.project("stolen", "1.0.1");
    assert!(alice.publish(&registry, &dir, &key).status.success());
    let url = registry.url();
    let since_text = since.to_string();
    alice.wharf_ok(&[
        "keys",
        "revoke",
        &id,
        "--compromised-since",
        &since_text,
        "--registry",
        &url,
        "--token",
        &alice.token,
    ]);
    let events = leaves(&registry)?;
    let revoke = events.last().ok_or("an empty log")?;
    let StatementBody::OwnerKeyRevoke {
        key: revoked,
        compromised_since,
    } = revoke.statement().body()
    else {
        return Err(format!("the last leaf is a {}", revoke.statement().describe()).into());
    };
    assert_eq!(*compromised_since, Some(since));
    // A client replays the package's leaves: the release before the theft stays valid, the
    // one logged since is not.
    let mut owners = OwnerKeys::new("stolen", 1);
    owners.apply(&events[0])?;
    owners.revoke(revoked, revoke.logged(), *compromised_since)?;
    let releases: Vec<&LogEvent> = events
        .iter()
        .filter(|e| e.statement().kind() == StatementKind::Release)
        .collect();
    assert_eq!(releases.len(), 2);
    owners.verify(
        releases[0].statement(),
        releases[0].signatures(),
        releases[0].logged(),
    )?;
    let error = owners
        .verify(
            releases[1].statement(),
            releases[1].signatures(),
            releases[1].logged(),
        )
        .expect_err("the release signed after the theft is refused")
        .to_string();
    assert!(error.contains("compromised since"), "{error}");
    // And the registry refuses the key from now on.
    let dir = alice.project("stolen", "1.0.2");
    let output = alice.publish(&registry, &dir, &key);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    Ok(())
}

#[test]
fn threat_19_weak_small_order_and_torsion_keys_are_refused_at_registration() -> TestResult {
    let registry = TestRegistry::start();
    let token = registry.create_token("mallory", &[]);
    let origin = origin(&registry)?;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    // The point of order 2 (y = -1) and an honest key plus that point (torsion).
    let mut order_two = [0xffu8; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    let honest = SigningKey::generate().public_key();
    let torsion = curve_sum(&honest.to_bytes(), &order_two).ok_or("a curve point")?;
    for (bytes, reason) in [
        (identity, "small order"),
        (order_two, "small order"),
        (torsion, "torsion"),
    ] {
        let registration = format!(
            "wharf-key-registration-v1\norigin: {origin}\nlogin: mallory\nkey: wharf-ed25519:{}\ntime: {}\n",
            b64(&bytes),
            UtcTime::now()
        );
        let answer = registry
            .http()
            .post(format!("{}/api/wharf/v1/keys", registry.url()))
            .header("Authorization", &token)
            .json(&serde_json::json!({
                "registration": registration,
                "signature": format!("{}:{}", "0".repeat(64), b64(&[0; 64])),
            }))
            .send()?;
        assert_eq!(answer.status(), 400);
        let detail = answer.text()?;
        assert!(detail.contains("refused public key"), "{detail}");
        assert!(detail.contains(reason), "{detail}");
    }
    // A registration for another account or signed by another key is refused too.
    let key = SigningKey::generate();
    let other = SigningKey::generate();
    let registration =
        wharf_trust::KeyRegistration::new(&origin, "mallory", key.public_key(), UtcTime::now())?;
    let answer = registry
        .http()
        .post(format!("{}/api/wharf/v1/keys", registry.url()))
        .header("Authorization", &token)
        .json(&serde_json::json!({
            "registration": registration.to_text(),
            "signature": registration.sign(&other).to_text(),
        }))
        .send()?;
    assert_eq!(answer.status(), 400);
    assert!(answer.text()?.contains("signed by the key it registers"));
    Ok(())
}

/// The encoding of the sum of two curve points.
fn curve_sum(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let a = ed25519_dalek::VerifyingKey::from_bytes(a)
        .ok()?
        .to_edwards();
    let b = ed25519_dalek::VerifyingKey::from_bytes(b)
        .ok()?
        .to_edwards();
    Some((a + b).compress().to_bytes())
}

#[test]
fn require_signatures_refuses_cargo_publish_and_cargo_builds_on_the_signed_release() -> TestResult {
    let registry = TestRegistry::start_with(&["--require-signatures"]);
    let alice = Publisher::new(&registry, "alice");
    let dir = alice.project("must-sign", "1.0.0");
    let stderr = alice
        .cargo
        .cargo_err(&dir, &["publish", "--registry", "wharf", "--no-verify"]);
    assert!(
        stderr.contains(
            "this registry requires signed releases: publish with `wharf publish --key FILE`"
        ),
        "{stderr}"
    );
    let (key, _) = alice.new_key("alice.key", false);
    alice.register(&registry, &key);
    let output = alice.publish(&registry, &dir, &key);
    assert!(output.status.success(), "{}", describe(&output));
    registry.settle();
    let app = CrateProject::new("uses-signed", "0.1.0")
        .dep("must-sign", r#"{ version = "1", registry = "wharf" }"#)
        .main("fn main() { println!(\"{}\", must_sign::answer()); }\n")
        .write(alice.cargo.work_dir());
    let run = alice.cargo.cargo_ok(&app, &["run", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "42");
    // An unsigned raw upload of a new crate is refused the same way.
    let answer = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &alice.token)
        .body(publish_body("unsigned-raw", "1.0.0"))
        .send()?;
    assert_eq!(answer.status(), 400);
    Ok(())
}

//! The whole trust path for plugins, through the real `wharf` binary and a real `wharf
//! serve`: the ten core plugins (every version) published with `wharf publish --key` (signed release
//! statements), `wharf verify --all` from the exported root key, `wharf install
//! --root-key` checking every release against the signed log (and remembering the key),
//! a line rewritten by a hostile mirror refused by the installer with the previous set
//! still in use, and a release logged after a key's `compromised-since` failing
//! verification by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wharf_e2e_tests::core_plugins::{CORE_PLUGINS, core_plugin_dir};
use wharf_e2e_tests::tamper_proxy::{Rule, edit, edit_line};
use wharf_e2e_tests::{TamperProxy, TestRegistry, TestResult, describe, wharf_binary};
use wharf_index_format::index_path;

/// Runs the `wharf` binary with none of the variables a developer's shell may set.
pub(crate) fn wharf(args: &[&str]) -> Output {
    Command::new(wharf_binary())
        .args(args)
        .env_remove("WHARF_TOKEN")
        .env_remove("WHARF_CA_CERT")
        .env_remove("WHARF_INSTALL_PAUSE_BEFORE_SWITCH")
        .output()
        .expect("the wharf binary runs")
}

/// Runs `wharf` and expects success; returns its standard output.
pub(crate) fn ok(args: &[&str]) -> String {
    let output = wharf(args);
    assert!(
        output.status.success(),
        "wharf {args:?}:\n{}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A temporary path as the UTF-8 text a command line takes.
pub(crate) fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// A registry, a publisher key registered for its admin account, and the root key file.
struct Setup {
    registry: TestRegistry,
    work: tempfile::TempDir,
    key: PathBuf,
    key_id: String,
    root_key: PathBuf,
}

impl Setup {
    fn start() -> TestResult<Self> {
        let registry = TestRegistry::start();
        let work = tempfile::tempdir()?;
        let key = work.path().join("publisher.key");
        let printed = ok(&["keys", "new", "--out", path(&key)]);
        let key_id = printed
            .lines()
            .find_map(|line| line.strip_prefix("key id: "))
            .ok_or("`keys new` prints the key id")?
            .to_owned();
        let url = registry.url();
        ok(&[
            "keys",
            "register",
            "--registry",
            &url,
            "--token",
            &registry.admin_token,
            "--key",
            path(&key),
        ]);
        let exported = registry.run_on_data(&["admin", "root-key", "export"], &[]);
        assert!(exported.status.success(), "{}", describe(&exported));
        let root_key = work.path().join("root.pub");
        std::fs::write(&root_key, &exported.stdout)?;
        Ok(Self {
            registry,
            work,
            key,
            key_id,
            root_key,
        })
    }

    /// `wharf publish DIR --key FILE` of one core plugin.
    fn publish(&self, name: &str, version: &str) {
        let url = self.registry.url();
        let printed = ok(&[
            "publish",
            path(&core_plugin_dir(name, version)),
            "--registry",
            &url,
            "--token",
            &self.registry.admin_token,
            "--key",
            path(&self.key),
        ]);
        assert!(
            printed.starts_with(&format!("published plugin {name} {version} to ")),
            "{printed}"
        );
    }

    fn verify(&self, state: &str, selection: &[&str]) -> Output {
        let index = self.registry.index_url();
        let state = self.work.path().join(state);
        let mut args = vec![
            "verify",
            "--index-url",
            &index,
            "--root-key",
            path(&self.root_key),
            "--state",
            path(&state),
        ];
        args.extend_from_slice(selection);
        wharf(&args)
    }
}

fn listed(dir: &Path) -> String {
    ok(&["list", "--dir", path(dir)])
}

#[test]
fn signed_plugins_verify_and_install_from_a_pinned_root_and_a_rewritten_line_is_refused()
-> TestResult {
    let setup = Setup::start()?;
    for (name, version) in CORE_PLUGINS {
        setup.publish(name, version);
    }
    setup.registry.settle();

    let verified = setup.verify("state", &["--all"]);
    assert!(verified.status.success(), "{}", describe(&verified));

    // Installs go through a mirror that is honest at first.
    let proxy = TamperProxy::start(&setup.registry.url());
    let index = proxy.index_url();
    let dir = setup.work.path().join("host");
    ok(&[
        "install",
        "approval-step",
        "webhook-trigger",
        "--dir",
        path(&dir),
        "--index-url",
        &index,
        "--host-api",
        "2.1.0",
        "--root-key",
        path(&setup.root_key),
    ]);
    let before = listed(&dir);
    for expected in [
        "approval-step 2.0.0",
        "notifications 2.0.0",
        "webhook-trigger 2.0.0",
        "http-client 2.0.0",
    ] {
        assert!(before.contains(expected), "{expected} in {before}");
    }
    let config = std::fs::read_to_string(dir.join("wharf-install.toml"))?;
    assert!(config.contains("root-key = \"wharf-ed25519:"), "{config}");
    let set = std::fs::read_link(dir.join("current"))?;

    // The mirror now adds a field to one line; the archive and its checksum are untouched,
    // so only the signed log can tell. The remembered root key is used without the flag.
    let file = format!("/index/{}", index_path("notifications"));
    proxy.add(Rule::exact(
        &file,
        edit(|body| {
            edit_line(body, "2.0.0", |line| {
                line.replacen("\"yanked\":false", "\"yanked\":false,\"note\":\"x\"", 1)
            })
        }),
    ));
    let refused = wharf(&["update", "--dir", path(&dir)]);
    assert_eq!(refused.status.code(), Some(5), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("signature-invalid"), "{stderr}");
    assert!(stderr.contains("notifications"), "{stderr}");
    assert_eq!(std::fs::read_link(dir.join("current"))?, set);
    assert_eq!(listed(&dir), before);

    // Honest again: the same update succeeds.
    proxy.clear();
    ok(&["update", "--dir", path(&dir)]);
    assert_eq!(listed(&dir), before);
    Ok(())
}

#[test]
fn a_release_logged_after_compromised_since_fails_verification_by_name() -> TestResult {
    let setup = Setup::start()?;
    setup.publish("http-client", "1.4.0");
    // Log times are whole seconds: the theft happens in a later second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = wharf_trust::UtcTime::now().to_string();
    setup.publish("http-client", "2.0.0");
    let url = setup.registry.url();
    ok(&[
        "keys",
        "revoke",
        &setup.key_id,
        "--compromised-since",
        &since,
        "--registry",
        &url,
        "--token",
        &setup.registry.admin_token,
    ]);
    setup.registry.settle();
    let output = setup.verify("state", &["http-client"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("http-client 2.0.0:"), "{stdout}");
    assert!(!stdout.contains("http-client 1.4.0:"), "{stdout}");
    Ok(())
}

//! A registry with three releases, a [`TamperProxy`] in front of it, and a client that
//! pinned its root key and runs the real `wharf verify` through the proxy.

use std::path::PathBuf;
use std::process::Command;

use crate::upload::publish_body;
use crate::{TamperProxy, TestRegistry, wharf_binary};

/// A registry, a proxy in front of it, and a client that pinned its root key.
#[derive(Debug)]
pub struct VerifySetup {
    /// The registry.
    pub registry: TestRegistry,
    /// The proxy in front of it, which `verify` goes through.
    pub proxy: TamperProxy,
    /// The client's directory: `root.pub` and `state/`.
    pub client: tempfile::TempDir,
}

impl VerifySetup {
    /// A registry with `demo-pkg` 1.0.0 and 1.1.0 and `other-pkg` 0.1.0.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`VerifySetup::start`] with extra `wharf serve` flags (e.g. `--auth-required`).
    pub fn start_with(extra: &[&str]) -> Self {
        let registry = TestRegistry::start_with(extra);
        publish(&registry, "demo-pkg", "1.0.0");
        publish(&registry, "demo-pkg", "1.1.0");
        publish(&registry, "other-pkg", "0.1.0");
        let proxy = TamperProxy::start(&registry.url());
        let client = tempfile::tempdir().expect("a temp dir");
        registry.export_root_key(&client.path().join("root.pub"));
        Self {
            registry,
            proxy,
            client,
        }
    }

    /// The client's state directory.
    pub fn state(&self) -> PathBuf {
        self.client.path().join("state")
    }

    /// Runs `wharf verify` through the proxy; returns (exit code, stdout).
    pub fn verify(&self, args: &[&str]) -> (i32, String) {
        let output = Command::new(wharf_binary())
            .arg("verify")
            .arg("--index-url")
            .arg(self.proxy.index_url())
            .arg("--root-key")
            .arg(self.client.path().join("root.pub"))
            .arg("--state")
            .arg(self.state())
            .args(args)
            .output()
            .expect("wharf runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if std::env::var_os("WHARF_E2E_SHOW_VERIFY").is_some() {
            eprintln!("[wharf verify {}] {stdout}", args.join(" "));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.trim().is_empty(),
            "nothing on stderr for a verification outcome: {stderr}"
        );
        (output.status.code().unwrap_or(-1), stdout)
    }

    /// `verify` that must pass.
    pub fn passes(&self, args: &[&str]) -> String {
        let (code, stdout) = self.verify(args);
        assert_eq!(code, 0, "verification should pass: {stdout}");
        stdout
    }

    /// `verify` that must fail with exit 1 and a line containing `needle`.
    pub fn fails_with(&self, args: &[&str], needle: &str) -> String {
        let (code, stdout) = self.verify(args);
        assert_eq!(
            code, 1,
            "verification should fail with `{needle}`: {stdout}"
        );
        assert!(
            stdout.lines().any(|line| line.contains(needle)),
            "no line with `{needle}` in:\n{stdout}"
        );
        assert!(!stdout.contains("verified "), "{stdout}");
        stdout
    }

    /// The bytes the registry serves at `path` now.
    pub fn fetch(&self, path: &str) -> Vec<u8> {
        let response = self
            .registry
            .http()
            .get(format!("{}{path}", self.registry.url()))
            .send()
            .expect("an answer");
        assert_eq!(response.status(), 200, "GET {path}");
        response.bytes().expect("a body").to_vec()
    }
}

/// Publishes `name` `version` through the API with the admin token.
pub fn publish(registry: &TestRegistry, name: &str, version: &str) {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body(name, version))
        .send()
        .expect("an answer");
    assert_eq!(response.status(), 200, "publish {name} {version}");
}

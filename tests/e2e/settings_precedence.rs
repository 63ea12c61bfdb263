//! Every key of `wharf serve` given in the config file is overridden by its `WHARF_*`
//! variable or its flag, booleans included, as the real binary runs (the merge itself, key by
//! key, is unit-tested in the cli crate).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use wharf_e2e_tests::upload::{crate_tarball, frame, metadata_json, publish_body};
use wharf_e2e_tests::{TestRegistry, TestResult, http_client_builder, wharf_binary};

const CRATES_IO_GIT: &str = "https://github.com/rust-lang/crates.io-index";
const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";

/// A `wharf serve` started with given arguments and variables, its stderr read line by line.
pub(crate) struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// The base URL it serves on, e.g. `http://127.0.0.1:41234`.
    pub(crate) url: String,
}

impl Served {
    /// `wharf serve --config CONFIG` with the variables `env`.
    fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let config = config.display().to_string();
        Self::start_with(&["--config", &config], env)
    }

    /// `wharf serve ARGS…` with the variables `env`; returns once it serves.
    pub(crate) fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(wharf_binary());
        command
            .arg("serve")
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("wharf serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Self {
            child,
            lines,
            seen: Vec::new(),
            url: String::new(),
        };
        let line = served.wait_for("wharf: serving on http://");
        line.trim_start_matches("wharf: serving on ")
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .clone_into(&mut served.url);
        served
    }

    /// A line containing `needle` among those read so far (e.g. logged before the server said
    /// it serves).
    fn seen_line(&self, needle: &str) -> Option<String> {
        self.seen.iter().find(|line| line.contains(needle)).cloned()
    }

    /// Reads stderr until a line containing `needle` and returns it.
    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_mins(1))
                .unwrap_or_else(|_| {
                    panic!(
                        "no line with `{needle}` on stderr:\n{}",
                        self.seen.join("\n")
                    )
                });
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The embedded database's file name in a data directory.
fn wharf_storage_file() -> &'static str {
    "wharf.db"
}

fn http() -> reqwest::blocking::Client {
    http_client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// Publishes `body` to the registry at `url` with `token`: the status and the error detail.
fn publish_to(url: &str, token: &str, body: Vec<u8>) -> TestResult<(u16, String)> {
    let response = http()
        .put(format!("{url}/api/v1/crates/new"))
        .header("Authorization", token)
        .body(body)
        .send()?;
    let status = response.status().as_u16();
    let answer: Value = response.json().unwrap_or_default();
    Ok((
        status,
        answer["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// A publish of `name` 1.0.0 depending on `serde` from `registry`.
fn with_registry_dependency(name: &str, registry: &str) -> Vec<u8> {
    let mut metadata = metadata_json(name, "1.0.0");
    metadata["deps"] = json!([{
        "optional": false, "default_features": true, "name": "serde", "features": [],
        "version_req": "^1", "target": null, "kind": "normal", "registry": registry
    }]);
    frame(
        metadata.to_string().as_bytes(),
        &crate_tarball(name, "1.0.0"),
    )
}

/// A publish of `demo` 1.0.0 whose `.crate` is `size` bytes of junk: past the size check it
/// is refused as a malformed tarball (400), before it as too large (413).
fn junk_crate_of(size: usize) -> Vec<u8> {
    frame(
        metadata_json("demo", "1.0.0").to_string().as_bytes(),
        &vec![b'x'; size],
    )
}

/// The connection keys the variables gave (`0s` turns the body timeout off), from `/metrics`
/// and the `connection limits` log line.
fn assert_variables_connection_keys(metrics: &str, limits_line: &str) {
    assert!(
        metrics
            .lines()
            .any(|line| line == "wharf_connections_max 15"),
        "{metrics}"
    );
    for expected in [
        "header_timeout: Some(11s)",
        "body_timeout: None",
        "min_upload_rate: 13",
        "idle_timeout: Some(14s)",
        "max_connections: 15",
    ] {
        assert!(limits_line.contains(expected), "{expected}: {limits_line}");
    }
}

#[test]
fn variables_override_every_key_of_the_config_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file_data = dir.path().join("data-from-file");
    let env_data = dir.path().join("data-from-variable");
    let config = dir.path().join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            "data = \"{}\"\nlisten = \"0.0.0.0:0\"\npublic-url = \"http://file.invalid\"\n\
             auth-required = true\nmax-crate-bytes = 1000\nworkers = 2\nyield-every = 5\n\
             index-fast-path = false\npublishes-per-day = 1\nallowed-dependency-registries = []\n\
             header-timeout = \"1s\"\nbody-timeout = \"2s\"\nmin-upload-rate = 3\n\
             idle-timeout = \"4s\"\nmax-connections = 5\n\
             database = \"postgres://wharf:file-secret@127.0.0.1:1/unreachable\"\n",
            file_data.display()
        ),
    )?;
    let env_data_text = env_data.display().to_string();
    let mut served = Served::start(
        &config,
        &[
            ("WHARF_DATA", &env_data_text),
            ("WHARF_LISTEN", "localhost:0"),
            ("WHARF_PUBLIC_URL", "http://variable.invalid"),
            ("WHARF_AUTH_REQUIRED", "false"),
            ("WHARF_MAX_CRATE_BYTES", "3000"),
            ("WHARF_WORKERS", "1"),
            ("WHARF_YIELD_EVERY", "7"),
            ("WHARF_INDEX_FAST_PATH", "true"),
            ("WHARF_PUBLISHES_PER_DAY", "2"),
            ("WHARF_ALLOWED_DEPENDENCY_REGISTRIES", CRATES_IO_GIT),
            ("WHARF_HEADER_TIMEOUT", "11s"),
            ("WHARF_BODY_TIMEOUT", "0s"),
            ("WHARF_MIN_UPLOAD_RATE", "13"),
            ("WHARF_IDLE_TIMEOUT", "14s"),
            ("WHARF_MAX_CONNECTIONS", "15"),
            ("WHARF_DATABASE", "sqlite"),
        ],
    );
    let workers_line = served.wait_for("HTTP workers serving");
    let limits_line = served
        .seen_line("connection limits")
        .ok_or("no `connection limits` line before the server said it serves")?;
    let url = served.url.clone();

    // data and listen: the variable's directory, on the loopback `localhost` names; database:
    // the variable's embedded one, not the file's unreachable PostgreSQL.
    assert!(env_data.join("admin-token").exists());
    assert!(env_data.join(wharf_storage_file()).exists());
    assert!(!file_data.exists());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let token = std::fs::read_to_string(env_data.join("admin-token"))?
        .trim()
        .to_owned();
    // auth-required=false and public-url: config.json is served without a token and names
    // the variable's URL.
    let config_json: Value = http()
        .get(format!("{url}/index/config.json"))
        .send()?
        .error_for_status()?
        .json()?;
    assert_eq!(
        config_json["api"], "http://variable.invalid",
        "{config_json}"
    );
    assert!(config_json.get("auth-required").is_none(), "{config_json}");
    // workers, yield-every and index-fast-path.
    assert!(
        workers_line.contains("workers=1")
            && workers_line.contains("yield_every=7")
            && workers_line.contains("index_fast_path=true"),
        "{workers_line}"
    );
    let metrics = http().get(format!("{url}/metrics")).send()?.text()?;
    assert!(
        metrics.lines().any(|line| line == "wharf_http_workers 1"),
        "{metrics}"
    );
    assert_variables_connection_keys(&metrics, &limits_line);
    // max-crate-bytes: 2000 bytes pass the size check (and fail as a tarball), 4000 do not.
    let (status, detail) = publish_to(&url, &token, junk_crate_of(2000))?;
    assert_eq!(status, 400, "{detail}");
    let (status, detail) = publish_to(&url, &token, junk_crate_of(4000))?;
    assert_eq!(status, 413, "{detail}");
    assert!(detail.contains("3000"), "{detail}");
    // allowed-dependency-registries: the variable's list, not the file's empty one.
    let (status, detail) = publish_to(
        &url,
        &token,
        with_registry_dependency("uses-git", CRATES_IO_GIT),
    )?;
    assert_eq!(status, 200, "{detail}");
    let (status, detail) = publish_to(
        &url,
        &token,
        with_registry_dependency("uses-sparse", CRATES_IO_SPARSE),
    )?;
    assert_eq!(status, 400, "{detail}");
    // publishes-per-day: a second publish passes, a third does not.
    let (status, detail) = publish_to(&url, &token, publish_body("second", "1.0.0"))?;
    assert_eq!(status, 200, "{detail}");
    let (status, detail) = publish_to(&url, &token, publish_body("third", "1.0.0"))?;
    assert_eq!(status, 429, "{detail}");
    assert!(detail.contains("`publishes-per-day` = 2"), "{detail}");
    Ok(())
}

#[test]
fn flags_override_every_key_of_the_config_file() -> TestResult {
    let config = tempfile::NamedTempFile::new()?;
    std::fs::write(
        config.path(),
        "data = \"/nonexistent/wharf-data\"\nlisten = \"0.0.0.0:0\"\nauth-required = false\n\
         publish-rate-per-minute = 1\npublish-burst = 1\nnew-crates-per-day = 1\n\
         versions-per-crate-per-day = 1\n\
         database = \"postgres://wharf:file-secret@127.0.0.1:1/unreachable\"\n",
    )?;
    let config_path = config.path().display().to_string();
    // TestRegistry passes `--data` and `--listen 127.0.0.1:0` itself.
    let registry = TestRegistry::start_with(&[
        "--config",
        &config_path,
        "--auth-required",
        "--publish-rate-per-minute",
        "2",
        "--publish-burst",
        "6",
        "--new-crates-per-day",
        "2",
        "--versions-per-crate-per-day",
        "2",
        "--database",
        "sqlite",
    ]);
    assert!(registry.url().starts_with("http://127.0.0.1:"));
    // auth-required given bare turns on what the file turned off.
    let anonymous = registry
        .http()
        .get(format!("{}/index/config.json", registry.url()))
        .send()?;
    assert_eq!(anonymous.status(), 401);

    let token = registry.admin_token.clone();
    let url = registry.url();
    let ok = |name: &str, version: &str| -> TestResult {
        let (status, detail) = publish_to(&url, &token, publish_body(name, version))?;
        assert_eq!(status, 200, "{name} {version}: {detail}");
        Ok(())
    };
    // With the file's limits the second publish would already be refused.
    ok("first", "1.0.0")?;
    ok("first", "2.0.0")?;
    ok("second", "1.0.0")?;
    let (status, detail) = publish_to(&url, &token, publish_body("third", "1.0.0"))?;
    assert_eq!(status, 429, "{detail}");
    assert!(detail.contains("`new-crates-per-day` = 2"), "{detail}");
    let (status, detail) = publish_to(&url, &token, publish_body("first", "3.0.0"))?;
    assert_eq!(status, 429, "{detail}");
    assert!(
        detail.contains("`versions-per-crate-per-day` = 2"),
        "{detail}"
    );
    // The token bucket is checked before anything else, so any request takes a token: the
    // sixth of the burst is the last one let through, and the refusal names both flags' values.
    let mut attempts = 5;
    let refused = loop {
        attempts += 1;
        assert!(attempts <= 20, "the token bucket never refused");
        let (status, detail) = publish_to(&url, &token, junk_crate_of(10))?;
        if status == 429 {
            break detail;
        }
    };
    assert!(attempts > 6, "refused after {attempts} requests: {refused}");
    assert!(
        refused.contains("2 publishes per minute (burst 6)"),
        "{refused}"
    );
    Ok(())
}

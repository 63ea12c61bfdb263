//! A `wharf serve` child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The `wharf` binary built by `cargo build --workspace --bins` (or `WHARF_BIN`).
pub fn wharf_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WHARF_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/<test> → target/<profile>/wharf
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let candidate = profile_dir.join(format!("wharf{}", std::env::consts::EXE_SUFFIX));
    assert!(
        candidate.exists(),
        "`{}` is missing: run `cargo build --bins` first or set WHARF_BIN",
        candidate.display()
    );
    candidate
}

/// `reqwest::blocking::Client::builder()`, after making `ring` the process's TLS crypto
/// provider: the workspace builds reqwest with rustls but without a default provider, and
/// reqwest refuses to build a client, even a plain-HTTP one, until one is installed.
/// Installing twice is harmless.
pub fn http_client_builder() -> reqwest::blocking::ClientBuilder {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
}

/// A running registry with its own data directory.
#[derive(Debug)]
pub struct TestRegistry {
    child: Option<Child>,
    data: TempDir,
    addr: String,
    /// `http` or `https`, as the server announced itself.
    scheme: String,
    /// The certificate authority `http()` trusts (HTTPS only).
    ca_pem: Option<String>,
    extra_args: Vec<String>,
    /// Variables set for `wharf serve` and for [`TestRegistry::run_on_data`].
    env: Vec<(String, String)>,
    /// Every line the server wrote to stderr (its log at `warn` and above), in order.
    log: Arc<Mutex<Vec<String>>>,
    /// The admin token printed on first start (all scopes).
    pub admin_token: String,
    /// The PostgreSQL database and S3 bucket of a node, kept running while it runs.
    backends: Option<Arc<crate::backends::Backends>>,
}

impl TestRegistry {
    /// Starts `wharf serve --listen 127.0.0.1:0` on a fresh data directory.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra `serve` flags (e.g. `--auth-required`).
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_trusting(&std::env::temp_dir(), extra, None)
    }

    /// Starts with extra `serve` flags and environment variables (e.g. `AWS_*` for an S3
    /// bucket); the variables are also set for [`TestRegistry::run_on_data`].
    pub fn start_with_env(extra: &[&str], env: &[(&str, String)]) -> Self {
        let env = env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        Self::start_full(&std::env::temp_dir(), extra, None, env)
    }

    /// Starts with extra `serve` flags on a fresh data directory inside `parent` (e.g. a
    /// small file system mounted for the test).
    pub fn start_in(parent: &Path, extra: &[&str]) -> Self {
        Self::start_trusting(parent, extra, None)
    }

    /// Starts with extra `serve` flags that turn HTTPS on (`--tls-cert`, `--tls-key`, or a
    /// config file naming them); [`TestRegistry::http`] trusts the PEM certificate authority
    /// `ca_pem` that issued the server's certificate.
    pub fn start_https(extra: &[&str], ca_pem: &str) -> Self {
        let registry = Self::start_trusting(&std::env::temp_dir(), extra, Some(ca_pem.to_owned()));
        assert_eq!(registry.scheme, "https", "the server announced plain HTTP");
        registry
    }

    /// Starts a registry with its metadata in a new PostgreSQL cluster and its blobs in a
    /// new Garage bucket (`--database postgres://… --storage s3://…`), both stopped with it.
    pub fn start_on_postgres_and_s3() -> Self {
        Self::start_node(&crate::backends::Backends::start(), &[], |_| {}, None)
    }

    /// Starts a node on `backends` with extra `serve` flags, after `prepare` ran on its fresh
    /// data directory (e.g. copying another node's keys); a node that joins a registry
    /// writes no admin token, so it takes `admin_token`, that of the registry's first node.
    pub fn start_node(
        backends: &Arc<crate::backends::Backends>,
        extra: &[&str],
        prepare: impl FnOnce(&Path),
        admin_token: Option<String>,
    ) -> Self {
        let mut args = backends.serve_args();
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut registry = Self::start_prepared(
            &std::env::temp_dir(),
            &args,
            None,
            backends.env(),
            prepare,
            admin_token,
        );
        registry.backends = Some(Arc::clone(backends));
        registry
    }

    fn start_trusting(parent: &Path, extra: &[&str], ca_pem: Option<String>) -> Self {
        Self::start_full(parent, extra, ca_pem, Vec::new())
    }

    fn start_full(
        parent: &Path,
        extra: &[&str],
        ca_pem: Option<String>,
        env: Vec<(String, String)>,
    ) -> Self {
        Self::start_prepared(parent, extra, ca_pem, env, |_| {}, None)
    }

    fn start_prepared(
        parent: &Path,
        extra: &[&str],
        ca_pem: Option<String>,
        env: Vec<(String, String)>,
        prepare: impl FnOnce(&Path),
        admin_token: Option<String>,
    ) -> Self {
        let data = tempfile::Builder::new()
            .prefix("wharf-e2e-")
            .tempdir_in(parent)
            .expect("a temp dir");
        prepare(data.path());
        let mut registry = Self {
            child: None,
            data,
            addr: String::new(),
            scheme: String::new(),
            ca_pem,
            extra_args: extra.iter().map(|s| (*s).to_owned()).collect(),
            env,
            log: Arc::default(),
            admin_token: String::new(),
            backends: None,
        };
        registry.spawn();
        registry.admin_token = match admin_token {
            Some(token) => token,
            None => std::fs::read_to_string(registry.data_dir().join("admin-token"))
                .expect("the first start writes admin-token")
                .trim()
                .to_owned(),
        };
        registry
    }

    fn spawn(&mut self) {
        let mut command = Command::new(wharf_binary());
        command
            .arg("serve")
            .arg("--data")
            .arg(self.data.path())
            .arg("--listen")
            .arg(if self.addr.is_empty() {
                "127.0.0.1:0"
            } else {
                self.addr.as_str()
            })
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("wharf serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = mpsc::channel();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent
                    && let Some(rest) = line.strip_prefix("wharf: serving on ")
                    && let Some((scheme, rest)) = rest.split_once("://")
                {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = sender.send((scheme.to_owned(), addr.to_owned()));
                    sent = true;
                }
                if std::env::var_os("WHARF_E2E_SHOW_SERVER_LOG").is_some() {
                    eprintln!("[wharf] {line}");
                }
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        let (scheme, addr) = receiver
            .recv_timeout(Duration::from_mins(1))
            .expect("wharf serve prints its address within a minute");
        self.scheme = scheme;
        self.addr = addr;
        self.child = Some(child);
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (`https://` when serving HTTPS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The sparse index URL for cargo.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.url())
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Waits (up to a minute) until the server has written a stderr line containing
    /// `needle`, and returns that line. Warnings and errors are logged; info is not.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_within(needle, Duration::from_mins(1))
            .unwrap_or_else(|| panic!("the server logged no line with `{needle}` within a minute"))
    }

    /// Waits up to `within` for a line of the server's log containing `needle` and returns
    /// it, or `None` when none came.
    pub fn wait_for_log_within(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .find(|line| line.contains(needle))
                .cloned();
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The value of one series of `/metrics`, named as the server writes it (e.g.
    /// `wharf_http_workers` or `wharf_http_requests_total{route="publish",status="200"}`);
    /// an error when the server does not list it.
    pub fn metric(&self, series: &str) -> crate::TestResult<u64> {
        let series = series.trim();
        let text = self
            .http()
            .get(format!("{}/metrics", self.url()))
            .send()?
            .text()?;
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .ok_or_else(|| format!("no `{series}` in /metrics:\n{text}"))?;
        Ok(value.trim().parse()?)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Runs `wharf <command…> --data <this registry's data directory> <args…>` (e.g.
    /// `&["token", "create"]`, `&["--user", "x"]`) while the server runs, and returns what it
    /// printed and how it exited.
    pub fn run_on_data(&self, command: &[&str], args: &[&str]) -> std::process::Output {
        Command::new(wharf_binary())
            .args(command)
            .arg("--data")
            .arg(self.data_dir())
            .args(args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .output()
            .expect("the wharf binary runs")
    }

    /// Writes the registry's root public key (`wharf admin root-key export`) to `path`, the
    /// key a client pins.
    pub fn export_root_key(&self, path: &std::path::Path) {
        let exported = self.run_on_data(&["admin", "root-key", "export"], &[]);
        assert!(exported.status.success(), "{exported:?}");
        std::fs::write(path, &exported.stdout).expect("the root key is written");
    }

    /// The id `wharf token list --user USER` shows for that user's first token.
    pub fn token_id(&self, user: &str) -> String {
        let listed = self.run_on_data(&["token", "list"], &["--user", user]);
        let listing = String::from_utf8(listed.stdout).expect("the listing is UTF-8");
        listing
            .lines()
            .nth(1)
            .and_then(|line| line.split_whitespace().next())
            .unwrap_or_else(|| panic!("no token row for `{user}` in {listing}"))
            .to_owned()
    }

    /// Runs `wharf token create` against this data directory and returns the token.
    pub fn create_token(&self, user: &str, scopes: &[&str]) -> String {
        let mut args = vec!["--user", user];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let output = self.run_on_data(&["token", "create"], &args);
        assert!(
            output.status.success(),
            "wharf token create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("the token is UTF-8")
            .lines()
            .last()
            .expect("the token is the last line")
            .trim()
            .to_owned()
    }

    /// Stops the server with SIGTERM and waits for it; a graceful stop exits with status 0.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().expect("waiting for wharf serve");
            assert!(
                status.success(),
                "wharf serve did not stop cleanly on SIGTERM: {status}"
            );
        }
    }

    /// Kills the server with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data directory and address.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a stopped or killed server again on the same data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        self.spawn();
    }

    /// Waits until the index files of acknowledged publishes are on disk (the server writes
    /// them behind its answers), so the data directory can be compared.
    pub fn settle(&self) {
        let http = self.http();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let metrics = http
                .get(format!("{}/metrics", self.url()))
                .header("Authorization", &self.admin_token)
                .send()
                .and_then(reqwest::blocking::Response::text)
                .expect("/metrics answers");
            let pending = metrics
                .lines()
                .find_map(|line| line.strip_prefix("wharf_index_writes_pending "))
                .expect("/metrics reports wharf_index_writes_pending");
            if pending.trim() == "0" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "index writes still pending after 30 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A snapshot of the data directory once pending index writes are done.
    pub fn data_snapshot(&self) -> crate::DataSnapshot {
        self.settle();
        crate::DataSnapshot::take(self.data_dir())
    }

    /// A blocking HTTP client (HTTP/2 when a TLS server offers it); over HTTPS it trusts only the registry's certificate
    /// authority.
    pub fn http(&self) -> reqwest::blocking::Client {
        self.http_with(http_client_builder())
    }

    /// Like [`TestRegistry::http`], but speaking only HTTP/1.1 (never HTTP/2 over ALPN), for
    /// tests that count requests by protocol.
    pub fn http1(&self) -> reqwest::blocking::Client {
        self.http_with(http_client_builder().http1_only())
    }

    fn http_with(
        &self,
        mut builder: reqwest::blocking::ClientBuilder,
    ) -> reqwest::blocking::Client {
        if let Some(pem) = &self.ca_pem {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("the test CA is PEM");
            builder = builder.tls_certs_only([ca]);
        }
        builder
            .no_gzip()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill9();
    }
}

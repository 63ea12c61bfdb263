//! A throwaway single-node Garage server (a real S3 implementation) on loopback, for tests
//! and benchmarks of S3 blob storage.
//!
//! [`GarageServer::start`] writes a configuration into a temporary directory, starts
//! `garage server`, applies a one-node layout, creates a bucket and a key allowed to use it,
//! and returns when the S3 API answers. The server is killed and its files removed on drop.
//!
//! The `garage` program is looked up in `WHARF_GARAGE`, then on `PATH`, then in
//! `~/.cargo/bin`. Without it [`GarageServer::start`] panics with one line saying how to
//! install it (`cargo install garage --locked`, which `scripts/test.sh` runs): S3 tests fail
//! rather than skip.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Garage gets to come up and apply its layout.
const START_TIMEOUT: Duration = Duration::from_mins(1);

/// A running Garage server with one bucket and one key that may read and write it.
#[derive(Debug)]
pub struct GarageServer {
    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The region Garage signs in (`garage`).
    pub region: String,
    /// The bucket created at start.
    pub bucket: String,
    /// The access key id of the key allowed on the bucket.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    program: PathBuf,
    config: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

/// The `garage` program, or a panic saying how to install it.
fn garage_program() -> PathBuf {
    if let Some(path) = std::env::var_os("WHARF_GARAGE") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain(std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin")))
        .map(|dir| dir.join("garage"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "the S3 tests need the `garage` program (a real S3 server) and it is not installed: run `cargo install garage --locked` (scripts/test.sh does), or set WHARF_GARAGE to its path"
        )
    })
}

/// A free loopback port (bound and released; Garage binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// 32 random bytes as 64 hex digits, for Garage's RPC secret.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    bytes.iter().fold(String::new(), |mut hex, b| {
        use std::fmt::Write;
        let _infallible = write!(hex, "{b:02x}");
        hex
    })
}

impl GarageServer {
    /// Starts Garage with bucket `wharf`; panics (with Garage's log) when it does not come up.
    #[must_use]
    pub fn start() -> Self {
        let program = garage_program();
        let dir = tempfile::tempdir().expect("a temporary directory for Garage");
        let (rpc_port, s3_port, admin_port) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let root = dir.path().display();
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "sqlite"
# A PUT is acknowledged only once it is on disk, as Wharf's durability rule needs.
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
                secret = random_hex()
            ),
        )
        .expect("writing garage.toml");
        let log = std::fs::File::create(dir.path().join("garage.log")).expect("garage.log");
        let child = Command::new(&program)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("garage.log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run `{}`: {error}", program.display()));
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            region: "garage".to_owned(),
            bucket: "wharf".to_owned(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            program,
            config,
            child,
            dir,
        };
        server.set_up(rpc_port, s3_port);
        server
    }

    /// Applies the layout, creates the bucket and the key, waits for the S3 port.
    fn set_up(&mut self, rpc_port: u16, s3_port: u16) {
        let status = self.retry("status", &["status"]);
        let node = status
            .lines()
            .find(|line| line.contains(&format!("127.0.0.1:{rpc_port}")))
            .and_then(|line| line.split_whitespace().next())
            .unwrap_or_else(|| self.fail(&format!("no node in `garage status`:\n{status}")))
            .to_owned();
        self.retry(
            "layout assign",
            &["layout", "assign", "-z", "dc1", "-c", "1G", &node],
        );
        self.retry("layout apply", &["layout", "apply", "--version", "1"]);
        let bucket = self.bucket.clone();
        self.retry("bucket create", &["bucket", "create", &bucket]);
        let key = self.retry("key create", &["key", "create", "wharf-key"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|line| line.trim().strip_prefix(name))
                .map_or_else(
                    || self.fail(&format!("no `{name}` in `garage key create`:\n{key}")),
                    |value| value.trim_start_matches(':').trim().to_owned(),
                )
        };
        let (id, secret) = (field("Key ID"), field("Secret key"));
        self.access_key_id = id;
        self.secret_access_key = secret;
        self.retry(
            "bucket allow",
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                &bucket,
                "--key",
                "wharf-key",
            ],
        );
        let deadline = Instant::now() + START_TIMEOUT;
        // An open port is not yet a working API (a request right after it opens has been
        // reset): wait until a plain request gets an HTTP answer (403: it is unsigned).
        while !answers_http(s3_port) {
            if Instant::now() > deadline {
                self.fail("the S3 API never answered a request");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `garage -c CONFIG ARGS…` until it succeeds (the server may still be starting);
    /// returns its standard output.
    fn retry(&self, what: &str, args: &[&str]) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let output = self.cli(args);
            match output {
                Ok(stdout) => return stdout,
                Err(error) if Instant::now() > deadline => {
                    self.fail(&format!("`garage {what}` keeps failing: {error}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Runs `garage -c CONFIG ARGS…` once: its standard output, or its error output.
    ///
    /// # Errors
    /// Garage's error output when the command fails.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.program)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }

    fn fail(&self, what: &str) -> ! {
        let log = std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default();
        panic!("Garage did not start: {what}\n--- garage.log ---\n{log}");
    }

    /// The `s3://BUCKET/PREFIX` URL of `prefix` in the bucket.
    #[must_use]
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// The `AWS_*` variables a client needs to use the bucket.
    #[must_use]
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// The same settings as `object_store` keys (`aws_endpoint`, …), for a client configured
    /// in code.
    #[must_use]
    pub fn object_store_options(&self) -> Vec<(String, String)> {
        self.aws_env()
            .into_iter()
            .map(|(name, value)| {
                let key = match name {
                    "AWS_ENDPOINT_URL" => "aws_endpoint".to_owned(),
                    other => other.to_ascii_lowercase(),
                };
                (key, value)
            })
            .collect()
    }

    /// The directory Garage keeps its files in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for GarageServer {
    fn drop(&mut self) {
        let _already_gone = self.child.kill();
        let _exit = self.child.wait();
    }
}

/// Whether the server on `port` of 127.0.0.1 answers a plain HTTP request with a status line.
fn answers_http(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ignored = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0_u8; 8];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

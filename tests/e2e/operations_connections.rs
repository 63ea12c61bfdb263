//! Many connections on one node: the server raises its open-file limit at start and says so,
//! warns when the hard limit is below the connection cap, and serves 2,000 keep-alive
//! connections at once, closing each once it has been idle for the (short, configured) idle
//! timeout. "Closed" means closed within a generous 30 s (`connections::read_until_closed`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wharf_e2e_tests::{TestRegistry, TestResult, http_client_builder, wharf_binary};

use crate::connections::{connect, read_response, read_until_closed};

/// Connections the keep-alive test holds open at once.
const CONNECTIONS: usize = 2_000;

/// A `wharf serve` started through `sh -c 'ulimit …; exec wharf serve …'`, logging at `info`.
struct LimitedServer {
    child: Child,
    url: String,
    /// The server's log lines up to "serving on".
    log: Vec<String>,
    _data: tempfile::TempDir,
}

impl LimitedServer {
    /// Starts with the shell's `ulimit` arguments (e.g. `-Sn 256`) and extra serve flags.
    fn start(ulimit: &str, extra: &[&str]) -> TestResult<Self> {
        let data = tempfile::tempdir()?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
            .arg(wharf_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path().join("data"))
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("stderr is piped")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let serving = line.starts_with("wharf: serving on ");
                log.push(line);
                if serving {
                    let _ = sender.send(log.clone());
                }
            }
        });
        let log = receiver
            .recv_timeout(Duration::from_mins(1))
            .map_err(|_| "wharf serve did not say where it serves within a minute")?;
        let url = log
            .last()
            .and_then(|line| line.strip_prefix("wharf: serving on "))
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or("no address in the `serving on` line")?
            .to_owned();
        Ok(Self {
            child,
            url,
            log,
            _data: data,
        })
    }

    fn log_line(&self, needle: &str) -> TestResult<&str> {
        Ok(self
            .log
            .iter()
            .find(|line| line.contains(needle))
            .ok_or_else(|| format!("no `{needle}` in the log:\n{}", self.log.join("\n")))?)
    }

    /// The soft open-file limit of the running process, from `/proc/PID/limits`.
    fn soft_open_file_limit(&self) -> TestResult<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.child.id()))?;
        let line = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .ok_or("no `Max open files` in /proc/PID/limits")?;
        let soft = line
            .split_whitespace()
            .nth(3)
            .ok_or("a soft limit column")?;
        Ok(soft.parse()?)
    }

    fn metric(&self, series: &str) -> TestResult<u64> {
        let text = http_client_builder()
            .build()?
            .get(format!("{}/metrics", self.url))
            .send()?
            .text()?;
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .ok_or_else(|| format!("no `{series}` in /metrics"))?;
        Ok(value.trim().parse()?)
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The hard open-file limit a child of this process gets, as the shell reports it.
fn hard_open_file_limit() -> TestResult<Option<u64>> {
    let output = Command::new("sh").args(["-c", "ulimit -Hn"]).output()?;
    let text = String::from_utf8(output.stdout)?;
    Ok(text.trim().parse().ok())
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit_and_logged() -> TestResult {
    let Some(hard) = hard_open_file_limit()? else {
        eprintln!("skipped: the hard open-file limit is unlimited here, nothing to raise to");
        return Ok(());
    };
    if hard <= 256 {
        eprintln!("skipped: the hard open-file limit ({hard}) is not above 256");
        return Ok(());
    }
    let server = LimitedServer::start("-Sn 256", &[])?;
    let line = server.log_line("open-file limit raised")?;
    assert!(
        line.contains(&format!("raised from 256 to {hard}")),
        "{line}"
    );
    assert_eq!(server.soft_open_file_limit()?, hard);
    // The default cap follows the raised limit, not the one the process started with.
    let expected_cap = (hard / 4 * 3).clamp(16, 16_384);
    assert_eq!(server.metric("wharf_connections_max")?, expected_cap);
    Ok(())
}

#[test]
fn a_hard_limit_below_the_connection_cap_is_warned_about() -> TestResult {
    let server = LimitedServer::start("-n 512", &["--max-connections", "1000"])?;
    let line = server.log_line("is below max-connections (1000)")?;
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("open-file limit 512"), "{line}");
    assert!(line.contains("LimitNOFILE"), "{line}");
    assert_eq!(server.metric("wharf_connections_max")?, 1000);
    Ok(())
}

/// Raises this test process's soft open-file limit to its hard limit, as the server does, so
/// it can hold its side of [`CONNECTIONS`] sockets.
fn raise_own_open_file_limit() -> TestResult<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit)?;
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

#[test]
fn two_thousand_keep_alive_connections_are_served_and_closed_once_idle() -> TestResult {
    let own_limit = raise_own_open_file_limit()?;
    if own_limit < 2 * CONNECTIONS as u64 + 256 {
        eprintln!(
            "skipped: the open-file limit ({own_limit}) is below {}, two sides of {CONNECTIONS} connections",
            2 * CONNECTIONS + 256
        );
        return Ok(());
    }
    // A long header timeout: a connection waits for its first request while the others are
    // opened and served. A short idle timeout: after its requests each one is closed soon.
    let registry = TestRegistry::start_with(&[
        "--header-timeout",
        "10m",
        "--idle-timeout",
        "2s",
        "--max-connections",
        "3000",
    ]);
    let mut streams = (0..CONNECTIONS)
        .map(|_| connect(&registry))
        .collect::<TestResult<Vec<TcpStream>>>()?;
    // Every connection is accepted and held at once (plus the one asking /metrics).
    let mut open = 0;
    for _ in 0..300 {
        open = registry.metric("wharf_connections_open")?;
        if open > CONNECTIONS as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(open > CONNECTIONS as u64, "only {open} connections open");
    let expected = registry
        .http()
        .get(registry.url() + "/index/config.json")
        .send()?
        .text()?;
    // Two requests on each connection: both answered on the same, kept-alive connection.
    let request = b"GET /index/config.json HTTP/1.1\r\nHost: wharf\r\n\r\n";
    for stream in &mut streams {
        for _ in 0..2 {
            stream.write_all(request)?;
            let response = read_response(stream)?;
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            assert!(response.ends_with(&expected), "{response}");
        }
    }
    // Then nothing more is asked: every connection is closed by the idle timeout.
    for stream in &mut streams {
        assert!(read_until_closed(stream)?.is_empty());
    }
    assert!(
        registry.metric("wharf_connections_timed_out_total{reason=\"idle_timeout\"}")?
            >= CONNECTIONS as u64
    );
    assert_eq!(
        registry.metric("wharf_http_requests_total{route=\"config\",status=\"200\"}")?,
        2 * CONNECTIONS as u64 + 1
    );
    // The server's descriptors are back: it still serves new connections.
    assert_eq!(
        registry
            .http()
            .get(registry.url() + "/health")
            .send()?
            .status(),
        200
    );
    Ok(())
}

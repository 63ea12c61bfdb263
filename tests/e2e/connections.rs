//! Connection limits over real sockets: a request head that never completes, an idle
//! keep-alive connection (HTTP/1.1 and HTTP/2) and a stalled upload are ended by their
//! timeouts while a slow upload that keeps moving is accepted; the cap on open connections
//! holds new ones back with one log line and serves them once others close; a second server
//! on the same port refuses to start. The servers run with 1 s timeouts; "closed" means closed
//! within a generous 30 s.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

/// Far longer than any timeout the servers here run with.
const GENEROUS: Duration = Duration::from_secs(30);
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty HTTP/2 SETTINGS frame.
const HTTP2_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

pub(crate) fn connect(registry: &TestRegistry) -> TestResult<TcpStream> {
    let addr = registry
        .url()
        .strip_prefix("http://")
        .ok_or("the registry URL starts with http://")?
        .to_owned();
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(GENEROUS))?;
    Ok(stream)
}

/// Reads until the server closes the connection and returns what it sent; fails if it is
/// still open after [`GENEROUS`].
pub(crate) fn read_until_closed(stream: &mut TcpStream) -> TestResult<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(received),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "the connection was still open after {GENEROUS:?} (received {} bytes)",
                    received.len()
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads one HTTP/1.1 response head and its `Content-Length` body.
pub(crate) fn read_response(stream: &mut TcpStream) -> TestResult<String> {
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(format!(
                "closed before a whole response: {}",
                String::from_utf8_lossy(&received)
            )
            .into());
        }
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return Ok(text);
            }
        }
    }
}

fn timed_out(reason: &str) -> String {
    format!("wharf_connections_timed_out_total{{reason=\"{reason}\"}}")
}

#[test]
fn a_request_head_that_never_completes_is_closed() -> TestResult {
    let registry = TestRegistry::start_with(&["--header-timeout", "1s"]);
    let mut silent = connect(&registry)?;
    let mut partial = connect(&registry)?;
    partial.write_all(b"GET /index/config.json HTTP/1.1\r\nHost: wharf\r\nAccept: */")?;
    assert!(read_until_closed(&mut partial)?.is_empty());
    assert!(read_until_closed(&mut silent)?.is_empty());
    // A second request on a kept-alive connection gets the same time for its head.
    let mut second = connect(&registry)?;
    second.write_all(b"GET /health HTTP/1.1\r\nHost: wharf\r\n\r\n")?;
    assert!(read_response(&mut second)?.starts_with("HTTP/1.1 200"));
    second.write_all(b"GET /health HTTP/1.1\r\nHo")?;
    assert!(read_until_closed(&mut second)?.is_empty());
    assert!(registry.metric(&timed_out("header_timeout"))? >= 3);
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

#[test]
fn an_http2_connection_that_sends_no_request_is_closed() -> TestResult {
    let registry = TestRegistry::start_with(&["--header-timeout", "1s"]);
    let mut stream = connect(&registry)?;
    stream.write_all(HTTP2_PREFACE)?;
    stream.write_all(&HTTP2_SETTINGS)?;
    let received = read_until_closed(&mut stream)?;
    // The server's own SETTINGS frame came first: it spoke HTTP/2.
    assert_eq!(received.get(3), Some(&4), "{received:?}");
    assert!(registry.metric(&timed_out("header_timeout"))? >= 1);
    Ok(())
}

#[test]
fn an_idle_keep_alive_connection_is_closed() -> TestResult {
    let registry = TestRegistry::start_with(&["--idle-timeout", "1s"]);
    let mut stream = connect(&registry)?;
    for _ in 0..2 {
        stream.write_all(b"GET /index/config.json HTTP/1.1\r\nHost: wharf\r\n\r\n")?;
        let response = read_response(&mut stream)?;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    assert!(read_until_closed(&mut stream)?.is_empty());
    assert_eq!(registry.metric(&timed_out("idle_timeout"))?, 1);
    Ok(())
}

#[test]
fn an_idle_http2_connection_is_closed_after_its_request() -> TestResult {
    let registry = TestRegistry::start_with(&["--idle-timeout", "1s", "--header-timeout", "30s"]);
    let mut stream = connect(&registry)?;
    stream.write_all(HTTP2_PREFACE)?;
    stream.write_all(&HTTP2_SETTINGS)?;
    // GET /health: :method GET and :scheme http from the static table, :path and
    // :authority as literals (HPACK, RFC 7541).
    let mut block = vec![0x82, 0x86, 0x04, 7];
    block.extend_from_slice(b"/health");
    block.extend_from_slice(&[0x01, 5]);
    block.extend_from_slice(b"wharf");
    let length = u8::try_from(block.len())?;
    // HEADERS, END_STREAM | END_HEADERS, stream 1.
    stream.write_all(&[0, 0, length, 1, 0x05, 0, 0, 0, 1])?;
    stream.write_all(&block)?;
    let received = read_until_closed(&mut stream)?;
    assert!(
        received.windows(3).any(|w| w == b"ok\n"),
        "the /health answer came before the close: {received:?}"
    );
    assert_eq!(registry.metric(&timed_out("idle_timeout"))?, 1);
    Ok(())
}

/// The head of a publish of `len` body bytes.
fn publish_head(registry: &TestRegistry, len: usize) -> String {
    format!(
        "PUT /api/v1/crates/new HTTP/1.1\r\nHost: wharf\r\nAuthorization: {}\r\nContent-Length: {len}\r\n\r\n",
        registry.admin_token
    )
}

#[test]
fn a_stalled_upload_is_answered_408_and_closed() -> TestResult {
    let registry = TestRegistry::start_with(&["--body-timeout", "1s"]);
    let body = publish_body("stalled-upload", "1.0.0");
    let mut stream = connect(&registry)?;
    stream.write_all(publish_head(&registry, body.len()).as_bytes())?;
    stream.write_all(&body[..body.len() / 2])?;
    let received = String::from_utf8(read_until_closed(&mut stream)?)?;
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    assert!(
        received.contains("no bytes arrived for 1s (body-timeout)"),
        "{received}"
    );
    assert!(
        registry
            .wait_for_log_within("upload answered with 408", GENEROUS)
            .is_some()
    );
    assert_eq!(registry.metric(&timed_out("body_timeout"))?, 1);
    let index = registry
        .http()
        .get(registry.url() + "/index/st/al/stalled-upload")
        .send()?;
    assert_eq!(index.status(), 404, "a stalled publish stores nothing");
    Ok(())
}

#[test]
fn a_slow_upload_that_keeps_moving_is_published() -> TestResult {
    let registry = TestRegistry::start_with(&["--body-timeout", "1s", "--idle-timeout", "1s"]);
    let body = publish_body("slow-upload", "1.0.0");
    let mut stream = connect(&registry)?;
    stream.write_all(publish_head(&registry, body.len()).as_bytes())?;
    // Ten pieces, 300 ms apart: three times the body timeout in all, never a 1 s gap.
    for piece in body.chunks(body.len().div_ceil(10)) {
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(piece)?;
    }
    let response = read_response(&mut stream)?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let index = registry
        .http()
        .get(registry.url() + "/index/sl/ow/slow-upload")
        .send()?;
    assert_eq!(index.status(), 200);
    assert_eq!(registry.metric(&timed_out("body_timeout"))?, 0);
    Ok(())
}

#[test]
fn connections_over_the_cap_wait_for_a_slot_and_are_served() -> TestResult {
    let registry = TestRegistry::start_with(&[
        "--max-connections",
        "2",
        "--workers",
        "1",
        "--header-timeout",
        "60s",
    ]);
    // Two connections that send nothing hold both slots.
    let held = [connect(&registry)?, connect(&registry)?];
    let mut waiting = connect(&registry)?;
    waiting.write_all(b"GET /health HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n")?;
    let line = registry
        .wait_for_log_within("connection limit reached", GENEROUS)
        .ok_or("no `connection limit reached` line in the server log")?;
    assert!(
        line.contains("2 connections are open (max-connections)"),
        "{line}"
    );
    drop(held);
    let response = String::from_utf8(read_until_closed(&mut waiting)?)?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(registry.metric("wharf_connections_waited_for_slot_total")? >= 1);
    assert_eq!(registry.metric("wharf_connections_max")?, 2);
    Ok(())
}

#[test]
fn a_second_server_on_a_port_in_use_refuses_to_start() -> TestResult {
    let registry = TestRegistry::start();
    let addr = registry
        .url()
        .strip_prefix("http://")
        .ok_or("an http URL")?
        .to_owned();
    let data = tempfile::tempdir()?;
    let second = Command::new(wharf_binary())
        .args(["serve", "--listen", &addr, "--data"])
        .arg(data.path().join("second"))
        .output()?;
    let stderr = String::from_utf8(second.stderr)?;
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "error: address {addr} already in use: another wharf serve or another program listens there; stop it or choose a free address with --listen"
        )
    );
    assert!(
        !data.path().join("second").exists(),
        "the refused server created no data"
    );
    for _ in 0..20 {
        let health = registry.http().get(registry.url() + "/health").send()?;
        assert_eq!(health.status(), 200);
    }
    Ok(())
}

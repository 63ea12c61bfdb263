//! The HTTP/1.1 fast path for index files, over real sockets against the real binary.
//!
//! Its answers are compared byte for byte (all but the `date` line) with hyper's answers from
//! the same server: a connection whose first request is one the fast path does not answer
//! (`GET /health`) is handed to hyper, which then answers every later request on it, so the
//! same request sent after `/health` gets hyper's answer and sent first gets the fast path's.
//! `wharf_index_fast_path_answers_total` tells which path answered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use wharf_e2e_tests::verify_setup::publish;
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::connections::{connect, read_response, read_until_closed};

const FAST_ANSWERS: &str = "wharf_index_fast_path_answers_total";
const FILE: &str = "/index/fa/st/fast-path";
const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: wharf\r\n\r\n";

/// A registry serving an index file with three versions (long enough to have a gzip copy).
fn registry_with_file(extra: &[&str]) -> TestRegistry {
    let registry = TestRegistry::start_with(extra);
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        publish(&registry, "fast-path", version);
    }
    registry
}

/// `response` without its `date` line, which differs from second to second.
fn without_date(response: &str) -> String {
    response
        .split("\r\n")
        .filter(|line| !line.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The ETag of the identity representation of [`FILE`].
fn etag(registry: &TestRegistry) -> TestResult<String> {
    let response = registry.http().get(registry.url() + FILE).send()?;
    Ok(response
        .headers()
        .get("etag")
        .ok_or("an ETag")?
        .to_str()?
        .to_owned())
}

/// Reads the answer to `request` sent first on a new connection (the fast path's), then the
/// answer to it sent after `GET /health` (hyper's). Requests that close the connection are
/// read to the close.
fn both_answers(
    registry: &TestRegistry,
    request: &str,
    closes: bool,
) -> TestResult<(String, String)> {
    let read = |stream: &mut TcpStream| -> TestResult<String> {
        if closes {
            Ok(String::from_utf8(read_until_closed(stream)?)?)
        } else if request.starts_with("HEAD ") {
            read_head(stream)
        } else {
            read_response(stream)
        }
    };
    let mut fast = connect(registry)?;
    fast.write_all(request.as_bytes())?;
    let fast_answer = read(&mut fast)?;
    let mut hyper = connect(registry)?;
    hyper.write_all(HEALTH)?;
    let health = read_response(&mut hyper)?;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    hyper.write_all(request.as_bytes())?;
    let hyper_answer = read(&mut hyper)?;
    Ok((fast_answer, hyper_answer))
}

/// Reads a response head (the answer to a `HEAD`, which has no body).
fn read_head(stream: &mut TcpStream) -> TestResult<String> {
    let mut received = Vec::new();
    let mut byte = [0; 1];
    while !received.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err("closed before a whole head".into());
        }
        received.push(byte[0]);
    }
    Ok(String::from_utf8(received)?)
}

#[test]
fn fast_path_answers_are_hypers_byte_for_byte() -> TestResult {
    let registry = registry_with_file(&[]);
    let tag = etag(&registry)?;
    let gzip_tag = format!("{}-gz\"", tag.trim_end_matches('"'));
    let cases: Vec<(String, bool, &str)> = vec![
        (
            format!("GET {FILE} HTTP/1.1\r\nHost: wharf\r\n\r\n"),
            false,
            "HTTP/1.1 200 OK",
        ),
        (
            format!("GET {FILE} HTTP/1.1\r\nHost: wharf\r\nAccept-Encoding: gzip\r\n\r\n"),
            false,
            "HTTP/1.1 200 OK",
        ),
        (
            format!("GET {FILE} HTTP/1.1\r\nHost: wharf\r\nIf-None-Match: {tag}\r\n\r\n"),
            false,
            "HTTP/1.1 304 Not Modified",
        ),
        (
            format!(
                "GET {FILE} HTTP/1.1\r\nHost: wharf\r\nAccept-Encoding: deflate, gzip\r\nIf-None-Match: {gzip_tag}\r\n\r\n"
            ),
            false,
            "HTTP/1.1 304 Not Modified",
        ),
        (
            format!(
                "GET {FILE} HTTP/1.1\r\nHost: wharf\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n"
            ),
            false,
            "HTTP/1.1 304 Not Modified",
        ),
        (
            format!("HEAD {FILE} HTTP/1.1\r\nHost: wharf\r\n\r\n"),
            false,
            "HTTP/1.1 200 OK",
        ),
        (
            format!("GET {FILE} HTTP/1.0\r\n\r\n"),
            true,
            "HTTP/1.0 200 OK",
        ),
        (
            format!("GET {FILE} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            false,
            "HTTP/1.0 200 OK",
        ),
        (
            format!("GET {FILE} HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n"),
            true,
            "HTTP/1.1 200 OK",
        ),
        (
            "GET /index/no/su/no-such-crate HTTP/1.1\r\nHost: wharf\r\n\r\n".to_owned(),
            false,
            "HTTP/1.1 404 Not Found",
        ),
    ];
    let mut answered_fast = 0;
    for (request, closes, status_line) in &cases {
        let before = registry.metric(FAST_ANSWERS)?;
        let (fast, hyper) = both_answers(&registry, request, *closes)?;
        assert!(fast.starts_with(status_line), "{request:?} got {fast}");
        assert_eq!(without_date(&fast), without_date(&hyper), "{request:?}");
        assert!(fast.contains("\r\ndate: "), "{fast}");
        let fast_path_answered = registry.metric(FAST_ANSWERS)? - before;
        if status_line.contains("404") {
            assert_eq!(fast_path_answered, 0, "a missing file is hyper's 404");
        } else {
            assert_eq!(fast_path_answered, 1, "{request:?}");
            answered_fast += 1;
        }
    }
    assert_eq!(answered_fast, cases.len() - 1);
    // A gzip answer carries the gzip bytes, and both paths count every answer.
    let (gzip, _) = both_answers(
        &registry,
        &format!("GET {FILE} HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n"),
        false,
    )?;
    assert!(gzip.contains("content-encoding: gzip\r\n"), "{gzip}");
    let counted =
        registry.metric("wharf_http_requests_total{route=\"index_file\",status=\"200\"}")?;
    assert!(counted >= 14, "{counted}");
    Ok(())
}

#[test]
fn pipelined_requests_are_answered_in_order_across_both_paths() -> TestResult {
    let registry = registry_with_file(&[]);
    let before = registry.metric(FAST_ANSWERS)?;
    let get = format!("GET {FILE} HTTP/1.1\r\nHost: wharf\r\n\r\n");
    let mut stream = connect(&registry)?;
    // Two the fast path answers, one it hands to hyper, then one more (hyper's by then), and
    // a last one that closes: all in one write.
    let pipelined = format!(
        "{get}{get}GET /health HTTP/1.1\r\nHost: wharf\r\n\r\n{get}GET {FILE} HTTP/1.1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(pipelined.as_bytes())?;
    let all = String::from_utf8(read_until_closed(&mut stream)?)?;
    assert_eq!(
        all.matches("HTTP/1.1 200 OK\r\n").count(),
        5,
        "five answers: {all}"
    );
    assert!(
        all.contains("ok\n"),
        "the /health answer is among them: {all}"
    );
    assert_eq!(registry.metric(FAST_ANSWERS)? - before, 2);
    Ok(())
}

#[test]
fn a_request_split_across_writes_is_answered() -> TestResult {
    let registry = registry_with_file(&[]);
    let before = registry.metric(FAST_ANSWERS)?;
    let mut stream = connect(&registry)?;
    stream.set_nodelay(true)?;
    let request = format!("GET {FILE} HTTP/1.1\r\nHost: wharf\r\nIf-None-Match: \"x\"\r\n\r\n");
    for piece in request.as_bytes().chunks(9) {
        stream.write_all(piece)?;
        stream.flush()?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let response = read_response(&mut stream)?;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert_eq!(registry.metric(FAST_ANSWERS)? - before, 1);
    Ok(())
}

#[test]
fn a_hanging_head_and_an_idle_connection_are_closed_by_their_timeouts() -> TestResult {
    let registry = registry_with_file(&["--header-timeout", "1s", "--idle-timeout", "2s"]);
    // A head that never completes, on a new connection and after an answer.
    let mut partial = connect(&registry)?;
    partial.write_all(format!("GET {FILE} HTTP/1.1\r\nHost: wh").as_bytes())?;
    assert!(read_until_closed(&mut partial)?.is_empty());
    let mut second = connect(&registry)?;
    second.write_all(format!("GET {FILE} HTTP/1.1\r\n\r\nGET {FILE} HTTP/1.1\r\nHo").as_bytes())?;
    let answered = String::from_utf8(read_until_closed(&mut second)?)?;
    assert!(answered.starts_with("HTTP/1.1 200 OK"), "{answered}");
    assert_eq!(answered.matches("HTTP/1.1").count(), 1, "{answered}");
    assert!(registry.metric("wharf_connections_timed_out_total{reason=\"header_timeout\"}")? >= 2);
    // A kept-alive connection that asks nothing more.
    let mut idle = connect(&registry)?;
    idle.write_all(format!("GET {FILE} HTTP/1.1\r\n\r\n").as_bytes())?;
    assert!(read_response(&mut idle)?.starts_with("HTTP/1.1 200 OK"));
    assert!(read_until_closed(&mut idle)?.is_empty());
    assert!(registry.metric("wharf_connections_timed_out_total{reason=\"idle_timeout\"}")? >= 1);
    Ok(())
}

#[test]
fn connections_on_the_fast_path_hold_their_slots() -> TestResult {
    let registry = registry_with_file(&["--max-connections", "2", "--workers", "1"]);
    let mut held = [connect(&registry)?, connect(&registry)?];
    for stream in &mut held {
        stream.write_all(format!("GET {FILE} HTTP/1.1\r\n\r\n").as_bytes())?;
        assert!(read_response(stream)?.starts_with("HTTP/1.1 200 OK"));
    }
    let mut waiting = connect(&registry)?;
    waiting.write_all(format!("GET {FILE} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes())?;
    registry
        .wait_for_log_within("connection limit reached", Duration::from_secs(30))
        .ok_or("no `connection limit reached` line in the server log")?;
    drop(held);
    let response = String::from_utf8(read_until_closed(&mut waiting)?)?;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(registry.metric("wharf_connections_waited_for_slot_total")? >= 1);
    Ok(())
}

#[test]
fn an_auth_required_registry_never_answers_on_the_fast_path() -> TestResult {
    let registry = TestRegistry::start_with(&["--auth-required"]);
    let mut stream = connect(&registry)?;
    stream.write_all(
        b"GET /index/config.json HTTP/1.1\r\n\r\nGET /index/an/y-/any-crate HTTP/1.1\r\n\r\n",
    )?;
    let first = read_response(&mut stream)?;
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    let mut anonymous = connect(&registry)?;
    anonymous.write_all(b"GET /index/an/y-/any-crate HTTP/1.1\r\n\r\n")?;
    let refused = read_response(&mut anonymous)?;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let metrics = registry
        .http()
        .get(registry.url() + "/metrics")
        .header("Authorization", &registry.admin_token)
        .send()?
        .text()?;
    assert!(
        metrics.contains(&format!("{FAST_ANSWERS} 0\n")),
        "{metrics}"
    );
    Ok(())
}

#[test]
fn the_switch_turns_the_fast_path_off() -> TestResult {
    for (args, env) in [
        (&["--index-fast-path=false"][..], None),
        (&[][..], Some(("WHARF_INDEX_FAST_PATH", "false".to_owned()))),
    ] {
        let registry = match &env {
            Some(var) => TestRegistry::start_with_env(args, std::slice::from_ref(var)),
            None => TestRegistry::start_with(args),
        };
        publish(&registry, "fast-path", "1.0.0");
        let mut stream = connect(&registry)?;
        stream.write_all(format!("GET {FILE} HTTP/1.1\r\n\r\n").as_bytes())?;
        assert!(read_response(&mut stream)?.starts_with("HTTP/1.1 200 OK"));
        assert_eq!(registry.metric(FAST_ANSWERS)?, 0, "{args:?} {env:?}");
        assert_eq!(
            registry.metric("wharf_http_requests_total{route=\"index_file\",status=\"200\"}")?,
            1
        );
    }
    Ok(())
}

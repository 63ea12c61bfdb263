//! Requests that fail in a way that may pass (HTTP 429, 5xx, no answer) are sent again, as
//! cargo's `net.retry` does; other failures are final at once.

use wharf_client::{ClientOptions, SparseIndex};
use wharf_resolver::IndexSource;

use crate::server::{Answer, TestServer};
use crate::{file_path, line, quick_retries};

#[test]
fn passing_failures_are_retried_until_the_file_arrives() {
    let server = TestServer::start();
    let path = file_path("flaky");
    server.set_sequence(
        &path,
        vec![
            Answer::status(503, "busy"),
            Answer::status(502, "bad gateway"),
            Answer::status(429, "slow down").header("Retry-After: 0"),
            Answer::ok(line("flaky", "1.0.0", &[])),
        ],
    );
    let index = SparseIndex::with_options(&server.index_url(), None, &quick_retries(3)).unwrap();
    assert_eq!(index.versions("flaky").unwrap().len(), 1);
    assert_eq!(server.hits(&path), 4);
}

#[test]
fn the_last_failure_is_reported_once_the_retries_are_spent() {
    let server = TestServer::start();
    let path = file_path("down");
    server.set(&path, Answer::status(503, "maintenance"));
    let index = SparseIndex::with_options(&server.index_url(), None, &quick_retries(2)).unwrap();
    let error = index.versions("down").unwrap_err().to_string();
    assert!(error.contains("HTTP 503"), "{error}");
    assert_eq!(server.hits(&path), 3);
}

#[test]
fn refusals_are_not_retried() {
    let server = TestServer::start();
    let forbidden = file_path("forbidden");
    server.set(&forbidden, Answer::status(403, "no"));
    let gone = file_path("gone");
    server.set(&gone, Answer::status(410, ""));
    let index = SparseIndex::with_options(&server.index_url(), None, &quick_retries(3)).unwrap();
    assert!(index.versions("forbidden").is_err());
    assert_eq!(server.hits(&forbidden), 1);
    assert!(index.versions("gone").unwrap().is_empty());
    assert_eq!(server.hits(&gone), 1);
}

#[test]
fn config_json_is_retried_too_and_zero_retries_means_one_try() {
    let server = TestServer::start();
    let config = server.answer_of("/index/config.json");
    server.set_sequence(
        "/index/config.json",
        vec![Answer::status(500, "starting"), config.clone()],
    );
    SparseIndex::with_options(&server.index_url(), None, &quick_retries(1)).unwrap();
    assert_eq!(server.hits("/index/config.json"), 2);

    let server = TestServer::start();
    server.set_sequence(
        "/index/config.json",
        vec![Answer::status(500, "starting"), config],
    );
    let no_retries = ClientOptions {
        retries: 0,
        ..ClientOptions::default()
    };
    let error = SparseIndex::with_options(&server.index_url(), None, &no_retries).unwrap_err();
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    assert_eq!(server.hits("/index/config.json"), 1);
}

/// A server on loopback that answers `config.json`, and for anything else either never
/// answers (`…/hang`) or sends a head and ten bytes of a longer body, then nothing.
/// Each connection is held open until the test ends.
fn stalling_server() -> (String, std::sync::mpsc::Sender<()>) {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/index/", listener.local_addr().unwrap());
    let (done, ended) = std::sync::mpsc::channel::<()>();
    let ended = std::sync::Arc::new(std::sync::Mutex::new(ended));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let ended = std::sync::Arc::clone(&ended);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    request.push_str(&line);
                }
                if request.contains("config.json") {
                    let body = r#"{"dl":"http://127.0.0.1/dl"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    // Keep the connection for the next request.
                    drop(reader);
                    return;
                }
                if !request.contains("/hang ") {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
                    let _ = stream.write_all(&[b'x'; 10]);
                }
                // Hold the connection open, silent, until the test ends.
                let _ = ended.lock().map(|ended| ended.recv());
            });
        }
    });
    (url, done)
}

/// The stall timeout bounds the wait for an answer's head and for each read of its body.
#[test]
fn an_answer_that_stops_coming_is_given_up_after_the_stall_timeout() {
    let (url, _done) = stalling_server();
    let options = ClientOptions {
        stall_timeout: std::time::Duration::from_millis(300),
        prefetch_threads: 0,
        ..quick_retries(0)
    };
    let index = SparseIndex::with_options(&url, None, &options).unwrap();
    let error = index.versions("hang").unwrap_err().to_string();
    assert!(error.contains("ha/ng/hang"), "{error}");
    let error = index.versions("cut").unwrap_err().to_string();
    assert!(
        error.contains("3/c/cut") && error.contains("broke off after 10 bytes"),
        "{error}"
    );
}

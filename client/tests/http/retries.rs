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

//! How each answer of the server becomes data, "no such package" or an error.

use wharf_client::{ClientError, SparseIndex};
use wharf_index_format::index_path;
use wharf_resolver::IndexSource;

use crate::server::{Answer, TestServer};
use crate::{file_path, line, quick_retries};

#[test]
fn missing_packages_are_empty_and_every_answer_is_cached() {
    let server = TestServer::start();
    for (name, status) in [("gone-404", 404), ("gone-410", 410), ("gone-451", 451)] {
        server.set(&file_path(name), Answer::status(status, "nothing here"));
    }
    server.set(&file_path("here"), Answer::ok(line("here", "1.0.0", &[])));
    let index = SparseIndex::with_prefetch_threads(&server.index_url(), None, 0).unwrap();
    for _ in 0..2 {
        for name in ["gone-404", "gone-410", "gone-451"] {
            assert!(index.versions(name).unwrap().is_empty(), "{name}");
        }
        let here = index.versions("here").unwrap();
        assert_eq!(here.len(), 1);
        assert_eq!(here[0].vers.to_string(), "1.0.0");
    }
    // config.json and four files, each once.
    assert_eq!(index.requests(), 5);
    for name in ["gone-404", "gone-410", "gone-451", "here"] {
        assert_eq!(server.hits(&file_path(name)), 1, "{name}");
    }
}

#[test]
fn other_statuses_are_errors_naming_url_status_and_detail() {
    let server = TestServer::start();
    server.set(
        &file_path("broken"),
        Answer::status(500, r#"{"errors":[{"detail":"the disk is on fire"}]}"#),
    );
    server.set(&file_path("teapot"), Answer::status(418, "<html>no</html>"));
    let index = SparseIndex::with_options(&server.index_url(), None, &quick_retries(2)).unwrap();
    let error = index.versions("broken").unwrap_err().to_string();
    let url = format!(
        "{}{}",
        server.index_url().trim_start_matches("sparse+"),
        index_path("broken")
    );
    assert!(
        error.contains("cannot read the index entry of `broken`"),
        "{error}"
    );
    assert!(error.contains(&format!("`{url}`")), "{error}");
    assert!(error.contains("HTTP 500: the disk is on fire"), "{error}");
    assert_eq!(
        server.hits(&file_path("broken")),
        3,
        "a 500 is tried 1 + 2 times"
    );
    let error = index.versions("teapot").unwrap_err().to_string();
    assert!(error.ends_with("answered HTTP 418"), "{error}");
    assert_eq!(server.hits(&file_path("teapot")), 1, "a 4xx is final");
}

#[test]
fn lines_are_filtered_like_a_local_index() {
    let server = TestServer::start();
    let file = [
        line("MixedCase", "1.0.0", &[]),
        line("mixedcase", "2.0.0", &[]),
        "{not json".to_owned(),
        line("mixedcase", "3.0.0", &[]).replace("\"links\":null", "\"links\":null,\"v\":3"),
        line("mixedcase", "2.1.0", &[]),
    ]
    .join("\n");
    server.set(&file_path("mixedcase"), Answer::ok(file));
    let index = SparseIndex::new(&server.index_url(), None).unwrap();
    let lower: Vec<String> = index
        .versions("mixedcase")
        .unwrap()
        .iter()
        .map(|entry| entry.vers.to_string())
        .collect();
    assert_eq!(lower, ["2.0.0", "2.1.0"]);
    let upper = index.versions("MixedCase").unwrap();
    assert_eq!(upper.len(), 1);
    assert_eq!(upper[0].vers.to_string(), "1.0.0");
    // Both names share one file, fetched once.
    assert_eq!(server.hits(&file_path("mixedcase")), 1);
    // Names that cannot be packages are never sent.
    assert!(index.versions("../../admin").unwrap().is_empty());
    assert!(server.seen().iter().all(|seen| !seen.path.contains("..")));
}

#[test]
fn gzip_bodies_are_decoded_and_requests_identify_wharf() {
    let server = TestServer::start();
    server.set(
        &file_path("packed"),
        Answer::ok(line("packed", "0.4.2", &[])).gzipped(),
    );
    let index = SparseIndex::new(&server.index_url(), None).unwrap();
    let found = index.versions("packed").unwrap();
    assert_eq!(found[0].vers.to_string(), "0.4.2");
    let seen = server.seen();
    let request = seen
        .iter()
        .find(|seen| seen.path == file_path("packed"))
        .unwrap();
    assert!(
        request.gzipped,
        "the client accepts gzip: {:?}",
        request.headers
    );
    let agent = &request.headers["user-agent"];
    assert_eq!(agent, &format!("wharf/{}", env!("CARGO_PKG_VERSION")));
    assert!(!request.headers.contains_key("authorization"));
}

#[test]
fn a_registry_that_wants_a_token_says_how_to_give_one() {
    let server = TestServer::start();
    server.require_token("secret-token");
    server.set(
        &file_path("private"),
        Answer::ok(line("private", "1.0.0", &[])),
    );
    let error = SparseIndex::new(&server.index_url(), None).unwrap_err();
    assert!(
        matches!(error, ClientError::AuthRequired { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("requires authentication"), "{message}");
    assert!(
        message.contains("--token") && message.contains("WHARF_TOKEN"),
        "{message}"
    );

    let refused = SparseIndex::new(&server.index_url(), Some("wrong".to_owned())).unwrap_err();
    assert!(
        matches!(refused, ClientError::TokenRefused { status: 401, .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("refused the token (HTTP 401"),
        "{refused}"
    );

    let index = SparseIndex::new(&server.index_url(), Some("secret-token".to_owned())).unwrap();
    assert_eq!(index.versions("private").unwrap().len(), 1);
    // The token goes out verbatim, as cargo sends it.
    assert!(
        server
            .seen()
            .iter()
            .filter(|seen| seen.path == file_path("private"))
            .all(|seen| seen.headers.get("authorization").map(String::as_str)
                == Some("secret-token"))
    );
}

#[test]
fn a_refused_token_on_config_json_names_the_status() {
    let server = TestServer::start();
    server.set(
        "/index/config.json",
        Answer::status(403, r#"{"errors":[{"detail":"token lacks read scope"}]}"#),
    );
    let error = SparseIndex::new(&server.index_url(), Some("weak".to_owned())).unwrap_err();
    assert!(
        matches!(error, ClientError::TokenRefused { status: 403, .. }),
        "{error:?}"
    );
    // Without a token, 403 is no auth question: a plain status error.
    let error = SparseIndex::new(&server.index_url(), None).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("HTTP 403: token lacks read scope"),
        "{error}"
    );
}

#[test]
fn config_json_must_exist_and_parse() {
    let server = TestServer::start();
    server.set("/index/config.json", Answer::status(404, ""));
    let error = SparseIndex::new(&server.index_url(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("there is no sparse index at"), "{error}");
    server.set("/index/config.json", Answer::ok("{\"api\":\"x\"}"));
    let error = SparseIndex::new(&server.index_url(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing field `dl`"), "{error}");
    server.set(
        "/index/config.json",
        Answer::ok(r#"{"dl":"x","auth-required":true}"#),
    );
    let error = SparseIndex::new(&server.index_url(), None).unwrap_err();
    assert!(
        matches!(error, ClientError::AuthRequired { .. }),
        "{error:?}"
    );
}

#[test]
fn unreachable_registries_and_foreign_schemes_are_clear_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = SparseIndex::with_options(
        &format!("sparse+http://{addr}/index/"),
        None,
        &quick_retries(1),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains(&format!("cannot fetch `http://{addr}/index/config.json`")),
        "{error}"
    );
    let error = SparseIndex::new("git://example.invalid/index", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("scheme `git` is not supported"), "{error}");
}

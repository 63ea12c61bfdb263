//! `/git/index`: absent unless configured, read-only, the index files' token rule with git's
//! Basic challenge, and fetches answered by the real `git http-backend`.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::Full;
use wharf_storage::Scope;

use crate::support::{Registry, request};

const ADVERTISE: &str = "/git/index/info/refs?service=git-upload-pack";

fn init_bare(root: &Path) {
    let status = Command::new("git")
        .args(["init", "--bare", "--quiet"])
        .arg(root.join("index.git"))
        .status()
        .expect("git runs");
    assert!(status.success());
}

async fn send(
    registry: &Registry,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> crate::support::Answer {
    let mut builder = request(method, path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, token);
    }
    registry
        .send(builder.body(Full::new(Bytes::new())).expect("a request"))
        .await
}

#[tokio::test]
async fn without_the_setting_there_is_no_git_index() {
    let registry = Registry::start().await;
    let answer = registry.get(ADVERTISE).await;
    insta::assert_json_snapshot!("git_index_not_enabled", answer.snapshot());
}

#[tokio::test]
async fn pushes_and_other_methods_are_refused_and_fetches_reach_git() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let git_root = root.path().to_path_buf();
    let registry = Registry::with_config(|config| config.git_index = Some(git_root)).await;

    let not_yet = registry.get(ADVERTISE).await;
    insta::assert_json_snapshot!("git_index_not_written_yet", not_yet.snapshot());

    let push = registry
        .get("/git/index/info/refs?service=git-receive-pack")
        .await;
    insta::assert_json_snapshot!("git_index_push_refused", push.snapshot());
    let post = send(&registry, Method::POST, "/git/index/git-receive-pack", None).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    let put = send(&registry, Method::PUT, "/git/index/info/refs", None).await;
    insta::assert_json_snapshot!("git_index_put_refused", put.snapshot());
    let get_pack = registry.get("/git/index/git-upload-pack").await;
    assert_eq!(get_pack.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get_pack.headers[header::ALLOW], "POST");
    let outside = registry.get("/git/index/../../etc/passwd").await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);

    init_bare(root.path());
    let advertised = registry.get(ADVERTISE).await;
    assert_eq!(advertised.status, StatusCode::OK, "{}", advertised.text());
    assert_eq!(
        advertised.headers[header::CONTENT_TYPE],
        "application/x-git-upload-pack-advertisement"
    );
    assert!(
        advertised
            .text()
            .starts_with("001e# service=git-upload-pack\n")
    );
}

#[tokio::test]
async fn a_private_registry_wants_a_read_token_as_the_basic_password() {
    let root = tempfile::tempdir().expect("a temporary directory");
    init_bare(root.path());
    let git_root = root.path().to_path_buf();
    let registry = Registry::with_config(|config| {
        config.auth_required = true;
        config.git_index = Some(git_root);
    })
    .await;

    let anonymous = registry.get(ADVERTISE).await;
    insta::assert_json_snapshot!("git_index_without_a_token", anonymous.snapshot());
    let basic = |token: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("anyone:{token}"))
        )
    };
    let bogus = send(
        &registry,
        Method::GET,
        ADVERTISE,
        Some(&basic("wharf_bogus")),
    )
    .await;
    assert_eq!(bogus.status, StatusCode::UNAUTHORIZED);
    let publisher = registry.token("ci", &[Scope::PublishUpdate]);
    let no_read = send(&registry, Method::GET, ADVERTISE, Some(&basic(&publisher))).await;
    assert_eq!(no_read.status, StatusCode::FORBIDDEN);
    let reader = registry.token("reader", &[Scope::Read]);
    let allowed = send(&registry, Method::GET, ADVERTISE, Some(&basic(&reader))).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());
}

//! The publish answer, 409 for what clashes with what exists, and 500 when storage fails
//! under the server.

use http::StatusCode;
use wharf_test_support::publish_body;

use crate::support::Registry;

#[tokio::test]
async fn a_publish_answers_with_cargo_warnings() {
    let registry = Registry::start().await;
    let answer = registry
        .publish(&registry.admin, publish_body("fresh", "1.0.0"))
        .await;
    insta::assert_json_snapshot!("publish_accepted", answer.snapshot());
    assert_eq!(registry.events().len(), 1);
}

#[tokio::test]
async fn duplicates_and_name_clashes_are_409() {
    let registry = Registry::start().await;
    registry.seed("taken-name", "1.0.0").await;
    let before = registry.events();

    let again = registry
        .publish(&registry.admin, publish_body("taken-name", "1.0.0"))
        .await;
    insta::assert_json_snapshot!("publish_of_an_existing_version", again.snapshot());

    let build = registry
        .publish(&registry.admin, publish_body("taken-name", "1.0.0+other"))
        .await;
    assert_eq!(build.status, StatusCode::CONFLICT, "{}", build.text());

    let clash = registry
        .publish(&registry.admin, publish_body("Taken_Name", "2.0.0"))
        .await;
    insta::assert_json_snapshot!("publish_of_a_clashing_name", clash.snapshot());

    assert_eq!(registry.events(), before, "a refused publish wrote nothing");
}

#[tokio::test]
async fn a_storage_failure_is_500_without_details() {
    let registry = Registry::start().await;
    // The blob store's directory becomes a file: the next blob cannot be written.
    let blobs = registry.data_dir().join("blobs");
    std::fs::remove_dir_all(&blobs).expect("the blob directory is removable");
    std::fs::write(&blobs, b"not a directory").expect("a file in its place");

    let answer = registry
        .publish(&registry.admin, publish_body("unlucky", "1.0.0"))
        .await;
    insta::assert_json_snapshot!("publish_when_blobs_cannot_be_written", answer.snapshot());
    assert!(registry.events().is_empty(), "nothing was committed");
}

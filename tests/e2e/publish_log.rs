//! Each publish's outcome is logged once, with its status, reason, user and crate, and never
//! with the token.

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult};

#[test]
fn a_refused_publish_is_logged_once_with_its_reason_and_no_secret() -> TestResult {
    let registry = TestRegistry::start();
    let http = registry.http();
    let url = format!("{}/api/v1/crates/new", registry.url());
    for expected in [200, 409] {
        let answer = http
            .put(&url)
            .header("Authorization", &registry.admin_token)
            .body(publish_body("logged-demo", "1.0.0"))
            .send()?;
        assert_eq!(answer.status(), expected, "{}", answer.text()?);
    }
    let line = registry.wait_for_log("publish refused");
    assert!(line.contains("status=409"), "{line}");
    assert!(
        line.contains("user=\"admin\"") || line.contains("user=admin"),
        "{line}"
    );
    assert!(line.contains("logged-demo@1.0.0"), "{line}");
    assert!(line.contains("already published"), "{line}");
    assert!(
        !line.contains(&registry.admin_token),
        "the token leaked: {line}"
    );

    // A publish with a bad token is refused before anyone is known.
    let answer = http
        .put(&url)
        .header("Authorization", "not-a-token")
        .body(publish_body("logged-demo", "1.0.1"))
        .send()?;
    let status = answer.status().as_u16();
    assert!(matches!(status, 401 | 403), "{status}: {}", answer.text()?);
    let line = registry.wait_for_log(&format!("status={status}"));
    assert!(line.contains("publish refused"), "{line}");
    assert!(
        line.contains("user=\"-\"") || line.contains("user=-"),
        "{line}"
    );
    assert!(
        !line.contains("not-a-token"),
        "the presented token leaked: {line}"
    );
    Ok(())
}

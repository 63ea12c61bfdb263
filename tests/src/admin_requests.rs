//! Publishes and yanks made with the registry's admin token over raw HTTP, for tests that
//! need versions in a registry and do not test the publish itself.

use crate::TestRegistry;
use crate::upload::publish_body;

impl TestRegistry {
    /// Publishes a minimal crate `name` `version` ([`publish_body`]) with the admin token;
    /// panics with the registry's answer unless it is 200.
    pub fn publish_as_admin(&self, name: &str, version: &str) {
        let response = self
            .http()
            .put(format!("{}/api/v1/crates/new", self.url()))
            .header("Authorization", &self.admin_token)
            .body(publish_body(name, version))
            .send()
            .expect("publish answers");
        expect_ok(response, &format!("publish {name} {version}"));
    }

    /// Yanks `name` `version` with the admin token; panics with the registry's answer unless
    /// it is 200.
    pub fn yank_as_admin(&self, name: &str, version: &str) {
        let response = self
            .http()
            .delete(format!(
                "{}/api/v1/crates/{name}/{version}/yank",
                self.url()
            ))
            .header("Authorization", &self.admin_token)
            .send()
            .expect("yank answers");
        expect_ok(response, &format!("yank {name} {version}"));
    }
}

/// Panics naming `what` and the registry's answer unless `response` is 200.
fn expect_ok(response: reqwest::blocking::Response, what: &str) {
    let status = response.status();
    assert_eq!(
        status,
        200,
        "{what}: {}",
        response.text().unwrap_or_default()
    );
}

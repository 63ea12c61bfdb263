//! Publish requests built by hand, the way cargo frames them, for tests that speak raw HTTP.
//! The builders live in `wharf-test-support`; they are re-exported here under the names the
//! end-to-end tests use.

pub use wharf_test_support::{
    crate_tarball, frame, metadata_json, metadata_json_with_deps, publish_body,
    publish_body_with_deps,
};

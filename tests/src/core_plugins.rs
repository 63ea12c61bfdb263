//! The ten core plugins of `fixtures/plugins`, for the tests that publish them.

use std::path::{Path, PathBuf};

/// Every core plugin version, dependencies before dependents.
pub const CORE_PLUGINS: &[(&str, &str)] = &[
    ("http-client", "1.4.0"),
    ("http-client", "2.0.0"),
    ("email", "1.4.0"),
    ("email", "2.0.0"),
    ("data-mapper", "1.3.0"),
    ("scheduler", "1.0.0"),
    ("sql-connector", "2.1.0"),
    ("message-queue", "1.2.0"),
    ("webhook-trigger", "1.1.0"),
    ("webhook-trigger", "2.0.0"),
    ("object-storage", "2.0.0"),
    ("notifications", "1.0.0"),
    ("notifications", "2.0.0"),
    ("approval-step", "1.0.0"),
    ("approval-step", "2.0.0"),
];

/// The folder of one core plugin version.
pub fn core_plugin_dir(name: &str, version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/plugins")
        .join(name)
        .join(version)
}

//! What cargo produces must pass, and pass unchanged.

use sha2::{Digest, Sha256};
use wharf_index_format::{
    IndexEntry, PublishLimits, TarballEntryKind, parse_publish_frame, prepare_publish,
    validate_tarball,
};

use crate::support::{CrateBuilder, body, metadata};

/// Recorded from `cargo 1.95 publish` against a loopback registry (see the fixtures README).
const DEMO_BODY: &[u8] = include_bytes!("../fixtures/publish/wharf-demo-0.1.0.body");
const RICH_BODY: &[u8] = include_bytes!("../fixtures/publish/wharf-rich-0.2.0+build.7.body");

#[test]
fn a_body_recorded_from_cargo_is_accepted() {
    let prepared = prepare_publish(DEMO_BODY, &PublishLimits::default()).unwrap();
    let frame = parse_publish_frame(DEMO_BODY, &PublishLimits::default()).unwrap();
    assert_eq!(prepared.name.as_str(), "wharf-demo");
    assert_eq!(prepared.crate_bytes, frame.crate_bytes);
    assert_eq!(
        prepared.entry.cksum,
        hex::encode(Sha256::digest(frame.crate_bytes))
    );
    assert_eq!(
        prepared.entry.to_line(),
        format!(
            r#"{{"name":"wharf-demo","vers":"0.1.0","deps":[],"cksum":"{}","features":{{"default":["std"],"std":[]}},"yanked":false,"links":null,"rust_version":"1.85"}}"#,
            prepared.entry.cksum
        )
    );
    assert_eq!(prepared.metadata.keywords, ["demo", "fixture"]);
    assert_eq!(
        prepared.metadata.license.as_deref(),
        Some("MIT OR Apache-2.0")
    );
    assert_eq!(
        IndexEntry::from_line(&prepared.entry.to_line()).unwrap(),
        prepared.entry
    );
}

#[test]
fn the_recorded_crate_lists_what_cargo_packaged() {
    let frame = parse_publish_frame(DEMO_BODY, &PublishLimits::default()).unwrap();
    let tarball = validate_tarball(
        frame.crate_bytes,
        "wharf-demo",
        "0.1.0",
        &PublishLimits::default(),
    )
    .unwrap();
    let paths: Vec<&str> = tarball.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "wharf-demo-0.1.0/.cargo_vcs_info.json",
            "wharf-demo-0.1.0/.gitignore",
            "wharf-demo-0.1.0/Cargo.lock",
            "wharf-demo-0.1.0/Cargo.toml",
            "wharf-demo-0.1.0/Cargo.toml.orig",
            "wharf-demo-0.1.0/src/lib.rs",
        ]
    );
    assert!(
        tarball
            .entries
            .iter()
            .all(|e| e.kind == TarballEntryKind::File && e.mode == 0o644)
    );
    assert_eq!(tarball.manifest.name, "wharf-demo");
    assert_eq!(tarball.unpacked_bytes, 7680);
}

#[test]
fn a_recorded_body_with_every_dependency_kind_is_accepted() {
    let prepared = prepare_publish(RICH_BODY, &PublishLimits::default()).unwrap();
    assert_eq!(prepared.entry.vers.to_string(), "0.2.0+build.7");
    assert_eq!(prepared.entry.links.as_deref(), Some("rich"));
    assert_eq!(prepared.entry.deps.len(), 7);
    assert_eq!(prepared.entry.v, Some(2));
    assert_eq!(
        prepared.metadata.readme.as_deref(),
        Some("# wharf-rich\n\nA fixture.\n")
    );
    assert_eq!(prepared.metadata.categories, ["development-tools"]);
}

#[test]
fn a_crate_shaped_like_cargo_output_passes() {
    let krate = CrateBuilder::standard("demo", "1.0.0")
        .file_with_mode("run.sh", b"#!/bin/sh\n", 0o755)
        .build();
    let tarball = validate_tarball(&krate, "demo", "1.0.0", &PublishLimits::default()).unwrap();
    assert_eq!(tarball.entries.len(), 5);
    assert_eq!(tarball.entries[4].mode, 0o755);
    let prepared = prepare_publish(
        &body(&metadata("demo", "1.0.0"), &krate),
        &PublishLimits::default(),
    )
    .unwrap();
    assert_eq!(prepared.entry.name, "demo");
    assert_eq!(prepared.entry.pubtime, None);
}

#[test]
fn long_paths_written_with_gnu_long_names_pass() {
    let deep = format!("src/{}/mod.rs", "nested_module_name".repeat(8));
    let krate = CrateBuilder::standard("demo", "1.0.0")
        .file(&deep, "")
        .build();
    let tarball = validate_tarball(&krate, "demo", "1.0.0", &PublishLimits::default()).unwrap();
    assert!(
        tarball
            .entries
            .iter()
            .any(|e| e.path == format!("demo-1.0.0/{deep}"))
    );
}

#[test]
fn build_metadata_versions_use_the_full_version_in_the_prefix() {
    let krate = CrateBuilder::standard("demo", "1.0.0+build.5").build();
    let prepared = prepare_publish(
        &body(&metadata("demo", "1.0.0+build.5"), &krate),
        &PublishLimits::default(),
    )
    .unwrap();
    assert_eq!(prepared.entry.vers.to_string(), "1.0.0+build.5");
}

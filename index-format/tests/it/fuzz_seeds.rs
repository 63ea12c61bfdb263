//! The fuzzing seeds under `fuzz/seeds/crates` were written by a separate tar writer
//! (Python's byte-level tooling, not the `tar` crate); each must get its intended verdict.

use wharf_index_format::{PublishLimits, validate_tarball};

fn verdict(crate_bytes: &[u8]) -> &'static str {
    match validate_tarball(crate_bytes, "demo", "1.0.0", &PublishLimits::default()) {
        Ok(_) => "accepted",
        Err(e) => e.code(),
    }
}

#[test]
fn every_seed_gets_its_intended_verdict() {
    let seeds: [(&[u8], &str); 7] = [
        (
            include_bytes!("../../fuzz/seeds/crates/good.crate"),
            "accepted",
        ),
        (
            include_bytes!("../../fuzz/seeds/crates/symlink-cargo-ok.crate"),
            "UnexpectedEntry",
        ),
        (
            include_bytes!("../../fuzz/seeds/crates/pax-size-desync.crate"),
            "SizeMismatch",
        ),
        (
            include_bytes!("../../fuzz/seeds/crates/gnu-long-name-mismatch.crate"),
            "MalformedPax",
        ),
        (
            include_bytes!("../../fuzz/seeds/crates/parent-dir.crate"),
            "InvalidPath",
        ),
        (
            include_bytes!("../../fuzz/seeds/crates/case-collision.crate"),
            "DuplicatePath",
        ),
        (
            include_bytes!("../../fuzz/seeds/crates/bomb.crate"),
            "TooLarge",
        ),
    ];
    for (bytes, expected) in seeds {
        assert_eq!(verdict(bytes), expected);
    }
}

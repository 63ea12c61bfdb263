//! Feeds arbitrary publish bodies to `prepare_publish`: it must never panic, and every line
//! it produces must be one stable cargo reads (`v` at most 2, parses back byte for byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_index_format::{IndexEntry, PublishLimits, prepare_publish};

fuzz_target!(|body: &[u8]| {
    if let Ok(prepared) = prepare_publish(body, &PublishLimits::default()) {
        assert!(prepared.entry.is_supported());
        let line = prepared.entry.to_line();
        assert_eq!(IndexEntry::from_line(&line).unwrap().to_line(), line);
    }
});

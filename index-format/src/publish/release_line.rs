//! [`release_index_line`]: the index line a registry stores for a publish, computed by the
//! publisher before uploading so it can sign its hash (a release statement's `entry`).

use super::NewCrate;
use crate::{FormatError, IndexEntry, PublishLimits, Pubtime};

/// The index line, without its LF, that a registry derives from the publish metadata `json`
/// (cargo's `NewCrate` document, exactly as uploaded) for a `.crate` whose SHA-256 is
/// `cksum` (lowercase hex), published at `pubtime`, not yanked, before the registry adds
/// its own members: the bytes a release statement's `entry` hashes.
///
/// The registry runs the same translation on the same bytes ([`NewCrate::from_json`], then
/// [`NewCrate::to_index_entry`]), so publisher and registry compute identical lines. Limits
/// are not the registry's business here: the registry enforces its own on the upload.
pub fn release_index_line(
    json: &[u8],
    cksum: &str,
    pubtime: Pubtime,
) -> Result<String, FormatError> {
    let limits = PublishLimits {
        max_json_bytes: u64::MAX,
        max_dependencies: usize::MAX,
        max_features: usize::MAX,
        max_keywords: usize::MAX,
        max_categories: usize::MAX,
        allowed_dependency_registries: None,
        ..PublishLimits::default()
    };
    let krate = NewCrate::from_json(json, &limits)?;
    let mut entry = krate.to_index_entry(cksum, &limits)?;
    entry.pubtime = Some(pubtime);
    entry.yanked = false;
    // What the registry hashes: the stored line as read back, so both sides agree even if
    // the writer and the reader of lines ever differ in spelling.
    let mut stored = IndexEntry::from_line(&entry.to_line())?;
    stored.yanked = false;
    Ok(stored.to_line())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare_publish;

    #[test]
    fn the_line_is_the_one_prepare_publish_derives() {
        let json = serde_json::json!({
            "name": "demo", "vers": "1.2.3", "deps": [{
                "optional": true, "default_features": false, "name": "serde",
                "features": ["derive"], "version_req": "^1", "target": null, "kind": "normal",
                "registry": "https://github.com/rust-lang/crates.io-index"
            }],
            "features": {"json": ["dep:serde"]}, "authors": [], "description": "d",
            "documentation": null, "homepage": null, "readme": null, "readme_file": null,
            "keywords": [], "categories": [], "license": "MIT", "license_file": null,
            "repository": null, "badges": {}, "links": null, "rust_version": null
        })
        .to_string();
        let krate = wharf_test_support::crate_tarball("demo", "1.2.3");
        let body = crate::encode_publish_frame(json.as_bytes(), &krate).unwrap();
        let prepared = prepare_publish(&body, &PublishLimits::default()).unwrap();
        let pubtime = Pubtime::parse("2026-08-20T10:11:12Z").unwrap();
        let mut expected = prepared.entry.clone();
        expected.pubtime = Some(pubtime);
        let line = release_index_line(json.as_bytes(), &prepared.entry.cksum, pubtime).unwrap();
        assert_eq!(line, expected.to_line());
        assert!(
            line.contains(r#""pubtime":"2026-08-20T10:11:12Z""#),
            "{line}"
        );
        assert!(line.contains(r#""v":2"#), "{line}");
    }
}

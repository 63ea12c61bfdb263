//! Which registries a published crate's dependencies may come from.
//!
//! Cargo's publish metadata leaves `registry` out for a dependency on the registry being
//! published to, and otherwise sends that registry's index URL exactly as cargo spells it:
//! `https://github.com/rust-lang/crates.io-index` for crates.io (whatever protocol cargo reads
//! it with), `sparse+https://host/index/` for a sparse registry (cargo refuses a sparse URL
//! without its trailing slash). Whoever builds against the published crate later fetches the
//! dependency from that URL, so a registry that accepts any URL lets a publisher point its
//! users at any server: the allowed list closes that door.

/// crates.io's index as cargo writes it in publish metadata for a crates.io dependency.
pub const CRATES_IO_GIT_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// crates.io's sparse index, as cargo writes it when a registry entry names it directly.
pub const CRATES_IO_SPARSE_INDEX: &str = "sparse+https://index.crates.io/";

/// The registries other than this one that dependencies may come from when an operator names
/// none: crates.io, in both of its spellings.
pub fn default_dependency_registries() -> Vec<String> {
    vec![
        CRATES_IO_GIT_INDEX.to_owned(),
        CRATES_IO_SPARSE_INDEX.to_owned(),
    ]
}

/// A registry's own sparse index URL as cargo writes it, from the URL clients reach the
/// registry at: `https://host` → `sparse+https://host/index/`.
pub fn own_index_url(public_url: &str) -> String {
    format!("sparse+{}/index/", public_url.trim_end_matches('/'))
}

/// Whether two index URLs name the same registry. They are compared as written, except that
/// trailing slashes are ignored (an operator may write `sparse+https://index.crates.io`).
pub fn same_index_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_index_url_is_the_sparse_spelling_cargo_writes() {
        assert_eq!(
            own_index_url("http://127.0.0.1:8080"),
            "sparse+http://127.0.0.1:8080/index/"
        );
        assert_eq!(
            own_index_url("https://registry.example/"),
            "sparse+https://registry.example/index/"
        );
    }

    #[test]
    fn urls_match_ignoring_only_trailing_slashes() {
        assert!(same_index_url(
            "sparse+https://index.crates.io",
            CRATES_IO_SPARSE_INDEX
        ));
        assert!(same_index_url(CRATES_IO_GIT_INDEX, CRATES_IO_GIT_INDEX));
        assert!(!same_index_url(
            "https://index.crates.io/",
            CRATES_IO_SPARSE_INDEX
        ));
        assert!(!same_index_url(
            "https://github.com/rust-lang/crates.io-index.evil",
            CRATES_IO_GIT_INDEX
        ));
    }
}

//! The size and count limits a publish must stay within.

/// One MiB in bytes.
const MIB: u64 = 1024 * 1024;

/// Limits applied to one publish request. [`PublishLimits::default`] gives the registry's
/// defaults; a server may tighten or relax single fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishLimits {
    /// Largest metadata JSON document, in bytes (default 1 MiB).
    pub max_json_bytes: u64,
    /// Largest `.crate` file, in bytes (default 10 MiB). Above it: [`crate::ErrorKind::TooLarge`].
    pub max_crate_bytes: u64,
    /// Largest decompressed tar stream, in bytes (default 512 MiB).
    pub max_unpacked_bytes: u64,
    /// Largest ratio of decompressed to compressed size (default 20), enforced once the
    /// decompressed size passes [`Self::ratio_exempt_bytes`].
    pub max_compression_ratio: u64,
    /// Decompressed sizes up to this are never refused for their ratio (default 32 MiB).
    /// Tar headers and padding compress very well, so ordinary crates reach 20×: of 240
    /// crates from crates.io measured, `tracing` 0.1.44 unpacks to 21.4× (9.9 MB).
    pub ratio_exempt_bytes: u64,
    /// Most entries (files and directories) in the tarball (default 10 000).
    pub max_entries: usize,
    /// Most dependencies of all kinds (default 500).
    pub max_dependencies: usize,
    /// Most features (default 300).
    pub max_features: usize,
    /// Most keywords (default 5).
    pub max_keywords: usize,
    /// Most categories (default 5).
    pub max_categories: usize,
    /// Longest README kept in [`crate::PackageMetadata`], in bytes (default 512 KiB);
    /// longer ones are truncated, not refused.
    pub max_readme_bytes: usize,
    /// Registries dependencies may come from (index URLs as cargo sends them, e.g.
    /// `sparse+https://host/index/`; trailing slashes do not matter). `None` allows any;
    /// dependencies on this registry itself (no `registry` field) are always allowed. A server
    /// sets it with [`PublishLimits::with_dependency_registries`].
    pub allowed_dependency_registries: Option<Vec<String>>,
}

impl Default for PublishLimits {
    fn default() -> Self {
        Self {
            max_json_bytes: MIB,
            max_crate_bytes: 10 * MIB,
            max_unpacked_bytes: 512 * MIB,
            max_compression_ratio: 20,
            ratio_exempt_bytes: 32 * MIB,
            max_entries: 10_000,
            max_dependencies: 500,
            max_features: 300,
            max_keywords: 5,
            max_categories: 5,
            max_readme_bytes: 512 * 1024,
            allowed_dependency_registries: None,
        }
    }
}

impl PublishLimits {
    /// Allows dependencies from this registry only (no `registry` field, or `own_index_url`
    /// as cargo writes it, see [`crate::own_index_url`]) and from the registries in `others`
    /// (e.g. [`crate::default_dependency_registries`]); an empty `others` allows this registry
    /// alone.
    pub fn with_dependency_registries(mut self, own_index_url: &str, others: &[String]) -> Self {
        let mut allowed = vec![own_index_url.to_owned()];
        for url in others {
            if !allowed
                .iter()
                .any(|known| crate::same_index_url(known, url))
            {
                allowed.push(url.clone());
            }
        }
        self.allowed_dependency_registries = Some(allowed);
        self
    }

    /// The most bytes a `.crate` of `compressed_len` bytes may unpack to: the smaller of
    /// [`Self::max_unpacked_bytes`] and [`Self::max_compression_ratio`] × `compressed_len`
    /// (the latter never below [`Self::ratio_exempt_bytes`]).
    pub fn unpacked_limit_for(&self, compressed_len: u64) -> u64 {
        let by_ratio = compressed_len
            .saturating_mul(self.max_compression_ratio)
            .max(self.ratio_exempt_bytes);
        self.max_unpacked_bytes.min(by_ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacked_limit_is_the_smaller_bound() {
        let limits = PublishLimits::default();
        assert_eq!(limits.unpacked_limit_for(1000), 32 * MIB);
        assert_eq!(limits.unpacked_limit_for(2 * MIB), 40 * MIB);
        assert_eq!(limits.unpacked_limit_for(100 * MIB), 512 * MIB);
        let no_exemption = PublishLimits {
            ratio_exempt_bytes: 0,
            ..PublishLimits::default()
        };
        assert_eq!(no_exemption.unpacked_limit_for(1000), 20_000);
    }
}

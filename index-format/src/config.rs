//! `config.json` at the root of the index.

use serde::{Deserialize, Serialize};

/// The registry configuration cargo reads from `{index}/config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryConfig {
    /// Download URL template (`{crate}`, `{version}`, `{prefix}`, `{lowerprefix}`, `{sha256-checksum}`).
    pub dl: String,
    /// Base URL of the web API, without a trailing slash (cargo appends `/api/v1/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Whether cargo must send a token for every index file, download and API call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
}

impl RegistryConfig {
    /// The configuration for a registry whose public base URL is `public_url`
    /// (for example `http://127.0.0.1:8080`). Downloads point at the immutable
    /// content-addressed blob URL; the API has no trailing slash.
    pub fn for_public_url(public_url: &str, auth_required: bool) -> Self {
        let base = public_url.trim_end_matches('/');
        Self {
            dl: format!("{base}/blobs/sha256/{{sha256-checksum}}"),
            api: Some(base.to_owned()),
            auth_required,
        }
    }

    /// The exact JSON bytes to serve.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings always serialises")
    }
}

/// The download URL of `name` `version` (whose `.crate` has SHA-256 `cksum`, lower-case hex)
/// from `config.json`'s `dl`, as cargo expands it: the markers `{crate}`, `{version}`,
/// `{prefix}`, `{lowerprefix}` and `{sha256-checksum}` are filled in, or
/// `/{crate}/{version}/download` is appended when `dl` has none of them.
pub fn download_url(dl: &str, name: &str, version: &str, cksum: &str) -> String {
    const MARKERS: [&str; 5] = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    if !MARKERS.iter().any(|marker| dl.contains(marker)) {
        return format!("{}/{name}/{version}/download", dl.trim_end_matches('/'));
    }
    let prefix = crate::prefix_path(name);
    dl.replace("{crate}", name)
        .replace("{version}", version)
        .replace("{prefix}", &prefix)
        .replace("{lowerprefix}", &prefix.to_lowercase())
        .replace("{sha256-checksum}", cksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_no_trailing_slash_in_api() {
        let config = RegistryConfig::for_public_url("http://127.0.0.1:8080/", false);
        assert_eq!(
            config.to_json(),
            r#"{"dl":"http://127.0.0.1:8080/blobs/sha256/{sha256-checksum}","api":"http://127.0.0.1:8080"}"#
        );
        let private = RegistryConfig::for_public_url("http://r", true);
        assert!(private.to_json().ends_with(r#","auth-required":true}"#));
    }
}

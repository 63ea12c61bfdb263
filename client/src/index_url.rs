//! The index URL as cargo writes it, and the file URLs under it.

use std::fmt;

use crate::ClientError;

/// The base URL of a sparse index: `http(s)://host/…/`, always with a trailing slash.
///
/// Accepts cargo's form `sparse+https://host/index/` as well as the bare `https://host/index`;
/// any other scheme (`git`, `file`, `ssh`, …) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUrl {
    base: String,
}

impl IndexUrl {
    /// Parses and normalises `text` (drops `sparse+`, adds the trailing slash).
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix("sparse+").unwrap_or(trimmed);
        let parsed = reqwest::Url::parse(bare).map_err(|e| invalid(&e.to_string()))?;
        match parsed.scheme() {
            "http" | "https" => {}
            other => {
                return Err(invalid(&format!(
                    "scheme `{other}` is not supported: use a sparse index URL such as \
                     `sparse+https://host/index/`"
                )));
            }
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("an index URL has no query or fragment"));
        }
        let mut normalised = parsed.to_string();
        if !normalised.ends_with('/') {
            normalised.push('/');
        }
        Ok(Self { base: normalised })
    }

    /// The base, ending in `/`.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The URL of `path` under the index (`config.json`, `se/rd/serde`): plain
    /// concatenation, as cargo does.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The error for a `config.json` answered with `status` at `url` when that status says
    /// there is no sparse index here (404, 410, 451), else `None`.
    pub(crate) fn missing_config(&self, url: &str, status: u16) -> Option<ClientError> {
        matches!(status, 404 | 410 | 451).then(|| ClientError::InvalidConfig {
            url: url.to_owned(),
            reason: format!("HTTP {status}: there is no sparse index at `{self}`"),
        })
    }

    /// `config.json`'s `body` (from `url`) read as the registry's configuration; refused with a
    /// clear error when the registry wants a token and the client has none.
    pub(crate) fn read_config(
        &self,
        url: &str,
        body: &str,
        has_token: bool,
    ) -> Result<wharf_index_format::RegistryConfig, ClientError> {
        let config: wharf_index_format::RegistryConfig =
            serde_json::from_str(body).map_err(|e| ClientError::InvalidConfig {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        if config.auth_required && !has_token {
            return Err(ClientError::AuthRequired {
                url: self.to_string(),
            });
        }
        Ok(config)
    }
}

impl fmt::Display for IndexUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cargo_and_bare_forms() {
        for text in [
            "sparse+http://127.0.0.1:8080/index/",
            "sparse+http://127.0.0.1:8080/index",
            "http://127.0.0.1:8080/index/",
            "http://127.0.0.1:8080/index",
        ] {
            let url = IndexUrl::parse(text).unwrap();
            assert_eq!(url.as_str(), "http://127.0.0.1:8080/index/", "{text}");
            assert_eq!(
                url.join("se/rd/serde"),
                "http://127.0.0.1:8080/index/se/rd/serde"
            );
        }
        assert_eq!(
            IndexUrl::parse("sparse+https://reg.example/")
                .unwrap()
                .as_str(),
            "https://reg.example/"
        );
    }

    #[test]
    fn refuses_other_schemes_and_garbage() {
        for (text, needle) in [
            ("git://host/index", "scheme `git`"),
            ("file:///srv/index/", "scheme `file`"),
            ("sparse+ssh://host/index/", "scheme `ssh`"),
            ("not a url", "invalid index URL `not a url`"),
            ("http://host/index/?x=1", "no query"),
        ] {
            let error = IndexUrl::parse(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}

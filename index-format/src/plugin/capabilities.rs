//! `[capabilities]`: what a plugin asks the host for, and the rules for each request.

use serde::{Deserialize, Serialize};

use crate::FormatError;

/// What a plugin may do on the host. Everything not asked for is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Outbound network destinations, each `host[:port]`; a host may start with `*.` to
    /// cover its subdomains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<String>,
    /// Names of the secrets it reads (`UPPER_SNAKE_CASE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Access to the plugin's persistent storage.
    #[serde(default)]
    pub storage: StorageAccess,
    /// Whether it registers scheduled runs.
    #[serde(default)]
    pub schedules: bool,
    /// Whether it receives inbound webhooks.
    #[serde(default)]
    pub webhooks: bool,
    /// A resource only one plugin of an installation may hold (a listener port, a queue
    /// consumer group). Published as the index line's `links`, so resolvers refuse two
    /// plugins claiming the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<String>,
}

/// How a plugin may use persistent storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageAccess {
    /// No storage.
    #[default]
    None,
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
}

impl Capabilities {
    /// Checks every request: network destinations, secret names and the exclusive resource.
    pub(crate) fn check(&self) -> Result<(), FormatError> {
        for destination in &self.network {
            check_network(destination).map_err(|reason| {
                FormatError::plugin(
                    "[capabilities] network",
                    format!("\"{destination}\" is not a host[:port] ({reason})"),
                )
            })?;
        }
        for secret in &self.secrets {
            let mut chars = secret.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && secret.len() <= 64;
            if !valid {
                return Err(FormatError::plugin(
                    "[capabilities] secrets",
                    format!(
                        "\"{secret}\" is not a secret name; use 1 to 64 of `A-Z`, `0-9` and `_`, starting with a letter (e.g. `API_TOKEN`)"
                    ),
                ));
            }
        }
        if let Some(exclusive) = &self.exclusive {
            let valid = !exclusive.is_empty()
                && exclusive.len() <= 64
                && exclusive
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return Err(FormatError::plugin(
                    "[capabilities] exclusive",
                    format!(
                        "\"{exclusive}\" is not a resource name; use 1 to 64 of `a-z`, `0-9`, `-` and `_`"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Why `destination` is not `host[:port]`, where host is a DNS name (optionally `*.`
/// followed by one) or an IPv4 address and port is 1 to 65535.
fn check_network(destination: &str) -> Result<(), String> {
    let (host, port) = match destination.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (destination, None),
    };
    if let Some(port) = port {
        match port.parse::<u32>() {
            Ok(0) => return Err("port 0 is not a port".to_owned()),
            Ok(n) if n > 65_535 => return Err(format!("port {n} is above 65535")),
            Ok(_) if port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("port `{port}` is not a number")),
        }
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.is_empty() {
        return Err("the host is empty".to_owned());
    }
    if name.len() > 253 {
        return Err("the host is longer than 253 characters".to_owned());
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(format!(
                "`{label}` is not a host name label; use lowercase letters, digits and `-`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hosts_ports_and_wildcards() {
        for ok in [
            "api.example.com",
            "api.example.com:443",
            "*.example.com",
            "10.0.0.1:5432",
            "localhost:1",
        ] {
            check_network(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn refuses_bad_destinations_with_the_reason() {
        for (bad, reason) in [
            ("*.example.com:99999", "port 99999 is above 65535"),
            ("example.com:0", "port 0"),
            ("example.com:https", "`https` is not a number"),
            ("*", "`*` is not a host name label"),
            ("Example.com", "`Example`"),
            ("a..b", "`` is not"),
            ("", "the host is empty"),
            ("-a.com", "`-a`"),
        ] {
            let err = check_network(bad).unwrap_err();
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn the_message_names_the_table_and_key() {
        let capabilities = Capabilities {
            network: vec!["*.example.com:99999".into()],
            ..Capabilities::default()
        };
        assert_eq!(
            capabilities.check().unwrap_err().to_string(),
            "plugin.toml: [capabilities] network: \"*.example.com:99999\" is not a host[:port] (port 99999 is above 65535)"
        );
        let capabilities = Capabilities {
            secrets: vec!["api-token".into()],
            ..Capabilities::default()
        };
        assert!(
            capabilities
                .check()
                .unwrap_err()
                .to_string()
                .starts_with("plugin.toml: [capabilities] secrets: \"api-token\"")
        );
        let capabilities = Capabilities {
            exclusive: Some("SMTP".into()),
            ..Capabilities::default()
        };
        assert!(
            capabilities
                .check()
                .unwrap_err()
                .to_string()
                .starts_with("plugin.toml: [capabilities] exclusive: \"SMTP\"")
        );
    }
}

//! The listen address of `wharf serve`, as a flag, a variable or a config-file key.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

/// The forms a listen address may take, for error messages and help.
pub(crate) const LISTEN_FORMS: &str = "HOST:PORT with an IP address or `localhost` (e.g. `127.0.0.1:8080`, `0.0.0.0:80`, `[::1]:8080`, `localhost:8080`) or a port alone (e.g. `8080`, on 127.0.0.1)";

/// An address to listen on: `HOST:PORT` with an IP address, `localhost:PORT` (the IPv4
/// loopback) or a bare port (on 127.0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenAddr(pub(crate) SocketAddr);

impl ListenAddr {
    /// `127.0.0.1:port`.
    fn loopback(port: u16) -> Self {
        Self(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self(addr));
        }
        if let Ok(port) = text.parse::<u16>() {
            return Ok(Self::loopback(port));
        }
        if let Some((host, port)) = text.rsplit_once(':')
            && host.eq_ignore_ascii_case("localhost")
            && let Ok(port) = port.parse::<u16>()
        {
            return Ok(Self::loopback(port));
        }
        Err(format!(
            "`{text}` is not a listen address; use {LISTEN_FORMS}"
        ))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// In the config file, `listen` is a string in any of the forms above or a port number.
impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ListenAddr;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{LISTEN_FORMS}")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ListenAddr, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, port: i64) -> Result<ListenAddr, E> {
                u16::try_from(port).map(ListenAddr::loopback).map_err(|_| {
                    E::custom(format!(
                        "`{port}` is not a port (0 to 65535); use {LISTEN_FORMS}"
                    ))
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> String {
        text.parse::<ListenAddr>()
            .map_or_else(|e| e, |a| a.to_string())
    }

    #[test]
    fn addresses_localhost_and_bare_ports_are_accepted() {
        assert_eq!(parsed("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(parsed("0.0.0.0:80"), "0.0.0.0:80");
        assert_eq!(parsed("[::1]:8080"), "[::1]:8080");
        assert_eq!(parsed("localhost:8081"), "127.0.0.1:8081");
        assert_eq!(parsed("LocalHost:0"), "127.0.0.1:0");
        assert_eq!(parsed("8081"), "127.0.0.1:8081");
        assert_eq!(parsed(" 8081 "), "127.0.0.1:8081");
    }

    #[test]
    fn anything_else_is_refused_with_the_expected_forms() {
        for bad in [
            "localhost",
            "example.com:80",
            "127.0.0.1",
            "70000",
            "[::1]",
            "",
        ] {
            let message = parsed(bad);
            assert!(
                message.starts_with(&format!("`{bad}` is not a listen address; use HOST:PORT")),
                "{bad}: {message}"
            );
            assert!(message.contains("`0.0.0.0:80`"), "{message}");
        }
    }

    #[test]
    fn the_config_file_takes_a_string_or_a_port() {
        #[derive(Debug, serde::Deserialize)]
        struct File {
            listen: ListenAddr,
        }
        let file: File = toml::from_str("listen = \"localhost:9000\"").unwrap();
        assert_eq!(file.listen.to_string(), "127.0.0.1:9000");
        let file: File = toml::from_str("listen = 9001").unwrap();
        assert_eq!(file.listen.to_string(), "127.0.0.1:9001");
        let error = toml::from_str::<File>("listen = 90000").unwrap_err();
        assert!(error.message().contains("`90000` is not a port"), "{error}");
    }
}

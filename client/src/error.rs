//! The crate's one error type.

use std::path::PathBuf;

use wharf_resolver::ResolveError;

/// Everything that can go wrong while opening or reading a sparse index over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The index URL is not `sparse+http(s)://host/…/`.
    #[error("invalid index URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {reason}")]
    HttpClient {
        /// The underlying error, with its causes.
        reason: String,
    },
    /// The request did not get an answer (connection refused, timeout, broken body).
    #[error("cannot fetch `{url}`: {reason}")]
    Transport {
        /// The URL requested.
        url: String,
        /// The underlying error, with its causes.
        reason: String,
    },
    /// A CA certificate file given as an extra trust root cannot be used.
    #[error("cannot use `{}` as a CA certificate: {reason}", .path.display())]
    CaCert {
        /// The file as given.
        path: PathBuf,
        /// Why: unreadable, not PEM, no certificate in it, or a damaged certificate.
        reason: String,
    },
    /// The server's TLS certificate was not accepted (unknown issuer, another host name,
    /// expired, …).
    #[error(
        "TLS certificate problem with `{url}`: {reason}; {}",
        certificate_hint(*.wrong_host)
    )]
    Certificate {
        /// The URL requested.
        url: String,
        /// What rustls found wrong with the certificate.
        reason: String,
        /// Whether the certificate is for another host name (then trusting another
        /// certificate authority does not help).
        wrong_host: bool,
    },
    /// The TLS handshake failed for another reason than the certificate (protocol versions,
    /// cipher suites, a server that does not speak TLS).
    #[error("TLS handshake with `{url}` failed: {reason}")]
    Tls {
        /// The URL requested.
        url: String,
        /// The underlying error, with its causes.
        reason: String,
    },
    /// The registry wants a token and none was given.
    #[error(
        "the registry at `{url}` requires authentication: pass a token with `--token` or the \
         `WHARF_TOKEN` environment variable"
    )]
    AuthRequired {
        /// The URL that answered 401, or the index whose `config.json` says `auth-required`.
        url: String,
    },
    /// The registry refused the token given.
    #[error("the registry refused the token (HTTP {status} for `{url}`)")]
    TokenRefused {
        /// The URL that refused it.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// An answer that is neither data nor "no such package".
    #[error("`{url}` answered HTTP {status}{}", detail_suffix(.detail.as_deref()))]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// `errors[0].detail` of a JSON error body, when there is one.
        detail: Option<String>,
    },
    /// `config.json` is missing or does not parse.
    #[error("`{url}` is not a registry's config.json: {reason}")]
    InvalidConfig {
        /// The URL of `config.json`.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

fn certificate_hint(wrong_host: bool) -> &'static str {
    if wrong_host {
        "the certificate is for another host: check the host name in the index URL"
    } else {
        "if the registry's certificate comes from a private certificate authority, trust that \
         authority with `--ca-cert FILE` (or the `WHARF_CA_CERT` environment variable)"
    }
}

fn detail_suffix(detail: Option<&str>) -> String {
    detail.map_or_else(String::new, |detail| format!(": {detail}"))
}

impl ClientError {
    /// The error as the resolver reports it for `package`.
    pub fn for_package(&self, package: &str) -> ResolveError {
        ResolveError::index(package, self.to_string())
    }
}

/// An error and every cause under it, joined by `: ` (reqwest's own message names only the
/// outermost layer, e.g. "error sending request").
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

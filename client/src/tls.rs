//! TLS for `https://` indexes: rustls with the `ring` provider, the platform's trust roots plus
//! any extra CA certificates (cargo's `http.cainfo`), and TLS failures told apart from other
//! transport errors.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{Error as PemError, PemObject as _};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_platform_verifier::Verifier;

use crate::ClientError;

/// The TLS configuration of every request: server certificates are checked against the
/// platform's roots (loaded at the first `https` handshake) and the certificates in
/// `ca_certs` (PEM files, read now so that a bad one is named at once). Public for clients
/// built outside this crate (`wharf mirror sync`), so they share the platform's roots.
///
/// A system without any root certificate still gets a configuration (whose `https` requests
/// then fail with an unknown issuer, pointing at `--ca-cert`), so plain `http` keeps working.
pub fn client_config(ca_certs: &[PathBuf]) -> Result<ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut extra_roots = Vec::new();
    for path in ca_certs {
        extra_roots.extend(read_ca_file(path)?);
    }
    let verifier = LazyVerifier {
        provider: Arc::clone(&provider),
        extra_roots,
        verifier: OnceLock::new(),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::HttpClient {
            reason: format!("cannot set up TLS: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest is built for HTTP/1.1 only: each fetching thread keeps a connection of its own,
    // so HTTP/2 has nothing to multiplex, and over TLS on loopback it cost more instructions
    // per answer than HTTP/1.1 for about as many system calls.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The platform's verifier (its roots plus the extra CA certificates), made at the first
/// certificate it is to check: loading and parsing the system's roots was 7 % of the
/// instructions a resolve over plain `http` spent on its resolving thread, before its first
/// request. A system without any root certificate gets a verifier too, whose `https`
/// handshakes fail with an unknown issuer (pointing at `--ca-cert`), so plain `http` keeps
/// working.
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    extra_roots: Vec<CertificateDer<'static>>,
    verifier: OnceLock<Option<Arc<Verifier>>>,
}

/// The platform's verifier without extra roots, made once per process and shared: making one
/// reads and parses every certificate file of the system's store, and one command may build
/// several clients (a mirror sync's downloads and its log verification).
fn platform_verifier(provider: Arc<CryptoProvider>) -> Result<Arc<Verifier>, rustls::Error> {
    static PLATFORM: OnceLock<Result<Arc<Verifier>, rustls::Error>> = OnceLock::new();
    PLATFORM
        .get_or_init(|| Verifier::new_with_extra_roots(Vec::new(), provider).map(Arc::new))
        .clone()
}

impl LazyVerifier {
    fn verifier(&self) -> Option<&Verifier> {
        self.verifier
            .get_or_init(|| {
                let provider = Arc::clone(&self.provider);
                let made = if self.extra_roots.is_empty() {
                    platform_verifier(provider)
                } else {
                    Verifier::new_with_extra_roots(self.extra_roots.clone(), provider).map(Arc::new)
                };
                made.inspect_err(|error| {
                    tracing::debug!(%error, "no root certificates: https needs `--ca-cert`");
                })
                .ok()
            })
            .as_deref()
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(verifier) = self.verifier() else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        };
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    // The signatures of a handshake need no roots: they are checked as the platform's
    // verifier checks them, with the provider's algorithms.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Every certificate of the PEM file at `path`; a file that cannot be read, is not PEM, holds
/// no certificate or holds one that cannot be a trust root is an error naming it.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let invalid = |reason: String| ClientError::CaCert {
        path: path.to_owned(),
        reason,
    };
    let pem_error = |error: PemError| {
        invalid(match error {
            PemError::Io(io) => io.to_string(),
            PemError::MissingSectionEnd { .. } => {
                "not a PEM file: a section has no `END` line".to_owned()
            }
            PemError::IllegalSectionStart { .. } => {
                "not a PEM file: a `BEGIN` line is malformed".to_owned()
            }
            PemError::Base64Decode(reason) => {
                format!("not a PEM file: a section is not base64 ({reason})")
            }
            other => format!("not a PEM file: {other}"),
        })
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(invalid(
            "no `BEGIN CERTIFICATE` section found (a PEM file is expected)".to_owned(),
        ));
    }
    // Adding to a store parses each certificate as a trust anchor, so a damaged one is named
    // here rather than failing every connection later.
    let mut store = RootCertStore::empty();
    for (number, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|error| {
            let number = number + 1;
            invalid(match error {
                rustls::Error::InvalidCertificate(problem) => {
                    format!("certificate {number} is not a valid X.509 certificate ({problem})")
                }
                other => format!("certificate {number} cannot be a trust root: {other}"),
            })
        })?;
    }
    Ok(certs)
}

/// The error for a request to `url` that failed in the TLS layer, or `None` when `error` is
/// no TLS failure.
pub(crate) fn tls_failure(
    url: &str,
    error: &(dyn std::error::Error + 'static),
) -> Option<ClientError> {
    let tls = tls_cause(error)?;
    Some(match tls {
        rustls::Error::InvalidCertificate(problem) => ClientError::Certificate {
            url: url.to_owned(),
            reason: tls.to_string(),
            wrong_host: matches!(
                problem,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ),
        },
        _ => ClientError::Tls {
            url: url.to_owned(),
            reason: tls.to_string(),
        },
    })
}

/// The rustls error somewhere under `error`. An `io::Error` hides the error it wraps from
/// `source()`, so each one is opened as well.
fn tls_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(tls) = as_tls(cause) {
            return Some(tls);
        }
        current = cause.source();
    }
    None
}

fn as_tls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = error.downcast_ref::<std::io::Error>()?.get_ref()?;
    as_tls(inner)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn tls_failures_are_found_under_wrapping_io_errors_and_others_are_not() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::Expired);
        let wrapped = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, tls));
        let failure = tls_failure("https://reg.example/index/config.json", &wrapped);
        assert!(
            matches!(
                failure,
                Some(ClientError::Certificate {
                    wrong_host: false,
                    ..
                })
            ),
            "{failure:?}"
        );
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert!(tls_failure("https://reg.example/", &refused).is_none());
    }
}

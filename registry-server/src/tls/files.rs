//! Reading the certificate chain and private key from PEM files and checking they belong
//! together, with a message for each way they can be wrong.

use std::path::{Path, PathBuf};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::error::{CERTIFICATE, KEY, TlsError};

/// The two files HTTPS is served from.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    /// PEM certificate chain, the server's certificate first.
    pub(crate) cert: PathBuf,
    /// PEM private key of the server's certificate.
    pub(crate) key: PathBuf,
}

impl TlsFiles {
    /// Reads both files and checks that the key is the certificate's.
    pub(crate) fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let chain = read_chain(&self.cert)?;
        let key = read_key(&self.key)?;
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|error| TlsError::UnusableKey {
                path: self.key.clone(),
                reason: error.to_string(),
            })?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            // `Unknown`: the key cannot tell its public half, so there is nothing to compare.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                Ok(certified)
            }
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                Err(TlsError::KeyMismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                })
            }
            Err(error) => Err(TlsError::BadCertificate {
                path: self.cert.clone(),
                reason: error.to_string(),
            }),
        }
    }
}

/// Every certificate of a PEM file, in file order.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = PemFile::read(path, CERTIFICATE)?;
    let chain: Vec<_> = file
        .sections
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
            found: file.labels.join(", "),
        });
    }
    Ok(chain)
}

/// The first unencrypted private key of a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let file = PemFile::read(path, KEY)?;
    if let Some(key) = file
        .sections
        .into_iter()
        .find_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
    {
        return Ok(key);
    }
    if file.labels.iter().any(|label| label.contains("ENCRYPTED")) {
        return Err(TlsError::EncryptedKey {
            path: path.to_owned(),
        });
    }
    Err(TlsError::NoPrivateKey {
        path: path.to_owned(),
        found: file.labels.join(", "),
    })
}

/// The sections of a PEM file the TLS library knows, and the labels of all of them.
struct PemFile {
    sections: Vec<(SectionKind, Vec<u8>)>,
    /// Distinct `-----BEGIN <label>-----` labels in file order, for messages.
    labels: Vec<String>,
}

impl PemFile {
    fn read(path: &Path, what: &'static str) -> Result<Self, TlsError> {
        let bytes = std::fs::read(path).map_err(|error| TlsError::Unreadable {
            what,
            path: path.to_owned(),
            error,
        })?;
        let labels = begin_labels(&bytes);
        if labels.is_empty() {
            return Err(TlsError::NotPem {
                what,
                path: path.to_owned(),
            });
        }
        let mut sections = Vec::new();
        let mut reader = bytes.as_slice();
        loop {
            match pem::from_buf(&mut reader) {
                Ok(Some(section)) => sections.push(section),
                Ok(None) => break,
                Err(error) => {
                    return Err(TlsError::BadPem {
                        what,
                        path: path.to_owned(),
                        detail: error.to_string(),
                    });
                }
            }
        }
        Ok(Self { sections, labels })
    }
}

/// The distinct labels of the `-----BEGIN <label>-----` lines, in order of appearance.
fn begin_labels(bytes: &[u8]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for line in bytes.split(|&b| b == b'\n' || b == b'\r') {
        let Some(rest) = line.strip_prefix(b"-----BEGIN ") else {
            continue;
        };
        let end = rest.iter().position(|&b| b == b'-').unwrap_or(rest.len());
        let label = String::from_utf8_lossy(&rest[..end]).trim().to_owned();
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_listed_once_in_order() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\r\n\
            -----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n\
            -----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
        assert_eq!(begin_labels(pem), ["CERTIFICATE", "ENCRYPTED PRIVATE KEY"]);
        assert!(begin_labels(b"\x30\x82\x01\x0a binary DER").is_empty());
    }
}

//! What can be wrong with the certificate and key files given for HTTPS.

use std::path::PathBuf;

/// A certificate or key file that cannot serve HTTPS. Each message is one line naming the
/// file, the cause and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read (missing, a directory, no permission).
    #[error("TLS {what} file `{}` cannot be read: {error}; check the path and that wharf may read the file", .path.display())]
    Unreadable {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The file has no PEM section at all (e.g. DER bytes or an empty file).
    #[error("TLS {what} file `{}` is not PEM (no `-----BEGIN ...-----` line); give the {what} in PEM, e.g. converted from DER with `{}`", .path.display(), der_to_pem(.what, .path))]
    NotPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A PEM section is broken (bad base64, no end line).
    #[error("TLS {what} file `{}` is not valid PEM ({detail}); give the {what} in PEM as issued, without edits", .path.display())]
    BadPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM parser found wrong.
        detail: String,
    },
    /// PEM, but without a `CERTIFICATE` section.
    #[error("TLS certificate file `{}` holds no certificate (found: {found}); give the PEM file with the server's certificate (`-----BEGIN CERTIFICATE-----`) first, then any intermediate ones", .path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// The PEM section labels it does hold.
        found: String,
    },
    /// PEM, but without an unencrypted private key section.
    #[error("TLS private key file `{}` holds no private key (found: {found}); give the PEM file with the server's key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)", .path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
        /// The PEM section labels it does hold.
        found: String,
    },
    /// The key is encrypted with a passphrase.
    #[error("TLS private key file `{}` holds an encrypted key; give it decrypted, e.g. `openssl pkey -in {} -out key.pem` (keep the result readable only by wharf)", .path.display(), .path.display())]
    EncryptedKey {
        /// The file.
        path: PathBuf,
    },
    /// A private key of a kind or size the TLS library does not sign with.
    #[error("TLS private key file `{}` holds a key that cannot be used ({reason}); give an ECDSA P-256 or P-384, Ed25519 or RSA (2048 bits or more) key", .path.display())]
    UnusableKey {
        /// The file.
        path: PathBuf,
        /// What the TLS library reported.
        reason: String,
    },
    /// The first certificate cannot be parsed.
    #[error("TLS certificate file `{}` holds a certificate that cannot be parsed ({reason}); give the server's certificate in PEM as issued", .path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the TLS library reported.
        reason: String,
    },
    /// The key is not the one the (first) certificate was issued for.
    #[error("TLS private key file `{}` does not match the certificate in `{}`; give the key the certificate was issued for (the server's certificate must come first in its file)", .key.display(), .cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
    /// The TLS library refused the server settings (not expected with the built-in provider).
    #[error("the TLS settings cannot be built ({0}); this is a bug in wharf, please report it")]
    Setup(rustls::Error),
}

/// The `openssl` command that converts a DER file of this kind to PEM.
fn der_to_pem(what: &str, path: &std::path::Path) -> String {
    let (tool, out) = if what == KEY {
        ("pkey", "key.pem")
    } else {
        ("x509", "cert.pem")
    };
    format!(
        "openssl {tool} -inform der -in {} -out {out}",
        path.display()
    )
}

/// The word for a certificate file in messages.
pub(crate) const CERTIFICATE: &str = "certificate";
/// The word for a private key file in messages.
pub(crate) const KEY: &str = "private key";

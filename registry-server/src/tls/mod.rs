//! HTTPS: the certificate chain and private key from PEM files, ALPN `h2` and `http/1.1`,
//! and the TLS handshake of each accepted connection, on the worker that accepted it.
//!
//! The certificate is looked up on every handshake from one shared slot, so [`Tls::reload`]
//! (on SIGHUP in `wharf serve`) puts a renewed certificate in place for new connections
//! without a restart; connections already open keep the one they started with.

mod error;
mod files;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

pub use error::TlsError;
use files::TlsFiles;

/// How long a client gets to finish the TLS handshake before its connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS sessions remembered for resumption, shared by all workers (nginx's
/// `ssl_session_cache shared:SSL:10m` holds about 40 000).
const SESSION_CACHE_ENTRIES: usize = 16_384;

/// The server's TLS settings; cloning shares them (and the certificate slot).
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<CurrentKey>,
    files: Arc<TlsFiles>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.files.cert)
            .field("key", &self.files.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the PEM certificate chain `cert` (the server's certificate first, then any
    /// intermediates) and the PEM private key `key`, checks they belong together, and offers
    /// `h2` and `http/1.1` by ALPN. Uses rustls with the `ring` provider.
    pub fn load(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let files = TlsFiles {
            cert: cert.into(),
            key: key.into(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = Arc::new(CurrentKey(RwLock::new(Arc::new(files.load(&provider)?))));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            current,
            files: Arc::new(files),
            provider,
        })
    }

    /// Reads both files again and, if they are usable, serves new connections with them.
    /// On an error the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = Arc::new(self.files.load(&self.provider)?);
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = certified;
        tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// The certificate chain file.
    pub fn cert_path(&self) -> &Path {
        &self.files.cert
    }

    /// The private key file.
    pub fn key_path(&self) -> &Path {
        &self.files.key
    }

    /// Runs the handshake on an accepted connection; `None` (logged at debug level) when the
    /// client fails it or does not finish it within ten seconds.
    pub(crate) async fn accept<S>(&self, stream: S) -> Option<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(%error, "TLS handshake failed");
                None
            }
            Err(_elapsed) => {
                tracing::debug!("TLS handshake not finished in time; connection closed");
                None
            }
        }
    }
}

/// The certificate and key every new handshake uses.
#[derive(Debug)]
struct CurrentKey(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentKey {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for 127.0.0.1 and its key, written as PEM files in `dir`.
    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("rcgen makes a certificate");
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, certified.cert.pem()).expect("writing the certificate");
        std::fs::write(&key, certified.signing_key.serialize_pem()).expect("writing the key");
        (cert, key, certified.cert.der().to_vec())
    }

    fn served_der(tls: &Tls) -> Vec<u8> {
        let current = tls.current.0.read().expect("not poisoned");
        current.cert[0].to_vec()
    }

    #[test]
    fn reload_swaps_the_certificate_and_keeps_the_old_one_on_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (cert, key, first) = write_pair(dir.path(), "first");
        let tls = Tls::load(&cert, &key).expect("a matching pair loads");
        assert_eq!(served_der(&tls), first);

        let (renewed_cert, renewed_key, second) = write_pair(dir.path(), "second");
        std::fs::copy(&renewed_cert, &cert).expect("replacing the certificate");
        std::fs::copy(&renewed_key, &key).expect("replacing the key");
        tls.reload().expect("the renewed pair loads");
        assert_eq!(served_der(&tls), second);

        let (_, stray_key, _) = write_pair(dir.path(), "stray");
        std::fs::copy(&stray_key, &key).expect("replacing the key");
        let error = tls
            .reload()
            .expect_err("a key of another certificate is refused");
        assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error}");
        assert_eq!(served_der(&tls), second);
    }

    #[test]
    fn broken_files_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (cert, key, _) = write_pair(dir.path(), "good");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
        )
        .expect("writing");
        let error = Tls::load(&broken, &key).expect_err("bad base64 is refused");
        assert!(matches!(error, TlsError::BadPem { .. }), "{error}");
        assert!(error.to_string().contains(&broken.display().to_string()));

        let truncated = dir.path().join("truncated.pem");
        let pem = std::fs::read_to_string(&key).expect("reading the key");
        std::fs::write(&truncated, &pem[..pem.len() / 2]).expect("writing");
        let error = Tls::load(&cert, &truncated).expect_err("a key without its end line");
        assert!(matches!(error, TlsError::BadPem { .. }), "{error}");

        let garbage_key = dir.path().join("garbage.key");
        std::fs::write(
            &garbage_key,
            "-----BEGIN PRIVATE KEY-----\nAAECAwQF\n-----END PRIVATE KEY-----\n",
        )
        .expect("writing");
        let error = Tls::load(&cert, &garbage_key).expect_err("a key that is not PKCS#8");
        assert!(matches!(error, TlsError::UnusableKey { .. }), "{error}");

        let garbage_cert = dir.path().join("garbage.crt");
        std::fs::write(
            &garbage_cert,
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        )
        .expect("writing");
        let error = Tls::load(&garbage_cert, &key).expect_err("a certificate that is not X.509");
        assert!(matches!(error, TlsError::BadCertificate { .. }), "{error}");
    }
}

//! A TLS-terminating proxy on `127.0.0.1:0` in front of a plain-HTTP `wharf serve`, with a
//! certificate for `127.0.0.1` from a certificate authority made for the test.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use wharf_e2e_tests::TestResult;

/// The proxy; it stops when dropped.
pub(crate) struct TlsProxy {
    port: u16,
    ca_pem: String,
    // Dropping the runtime ends the acceptor and every connection.
    _runtime: Runtime,
}

impl TlsProxy {
    /// Forwards every TLS connection, decrypted, to `backend` (`host:port`).
    pub(crate) fn start(backend: &str) -> TestResult<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Wharf e2e CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &ca)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone(), ca.der().clone()], key)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let port = listener.local_addr()?.port();
        let backend = backend.to_owned();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, backend) = (acceptor.clone(), backend.clone());
                tokio::spawn(async move {
                    // A client that rejects the certificate ends here.
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut upstream) = TcpStream::connect(&backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        Ok(Self {
            port,
            ca_pem: ca.pem(),
            _runtime: runtime,
        })
    }

    /// `sparse+https://127.0.0.1:PORT/index/`.
    pub(crate) fn index_url(&self) -> String {
        format!("sparse+https://127.0.0.1:{}/index/", self.port)
    }

    /// The PEM certificate of the authority that signed the proxy's certificate.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

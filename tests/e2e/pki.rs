//! A certificate authority made for one test with rcgen, and server certificates it issues
//! for `127.0.0.1` and `localhost`, written as PEM files in a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;
use wharf_e2e_tests::TestResult;

/// The authority and the directory its files go to.
pub(crate) struct TestPki {
    dir: TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, as files.
pub(crate) struct ServerFiles {
    /// The PEM certificate.
    pub(crate) cert: PathBuf,
    /// The PEM private key (PKCS#8).
    pub(crate) key: PathBuf,
    /// The certificate's DER bytes, to recognise it on the wire.
    pub(crate) der: Vec<u8>,
}

impl ServerFiles {
    /// `["--tls-cert", CERT, "--tls-key", KEY]`.
    pub(crate) fn flags(&self) -> [&str; 4] {
        [
            "--tls-cert",
            self.cert.to_str().expect("a UTF-8 temp path"),
            "--tls-key",
            self.key.to_str().expect("a UTF-8 temp path"),
        ]
    }
}

impl TestPki {
    /// A new authority; its certificate is written to `ca.pem`.
    pub(crate) fn new() -> TestResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("wharf-e2e-pki-")
            .tempdir()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Wharf e2e CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        std::fs::write(dir.path().join("ca.pem"), ca.pem())?;
        Ok(Self { dir, ca })
    }

    /// The authority's PEM certificate.
    pub(crate) fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The file holding the authority's PEM certificate.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The directory of every file written.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Issues a certificate for `127.0.0.1` and `localhost` with a new key, written to
    /// `NAME.crt` and `NAME.key`.
    pub(crate) fn issue(&self, name: &str) -> TestResult<ServerFiles> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("wharf e2e {name}"));
        let cert = params.signed_by(&key, &self.ca)?;
        let files = ServerFiles {
            cert: self.dir.path().join(format!("{name}.crt")),
            key: self.dir.path().join(format!("{name}.key")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&files.cert, cert.pem())?;
        std::fs::write(&files.key, key.serialize_pem())?;
        Ok(files)
    }
}

//! `https` against a real TLS server on loopback whose certificate comes from a throwaway CA
//! made here: trusted with `ca_certs` it resolves exactly like `http`; untrusted, for another
//! host or with a bad CA file, the error says what and where.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use wharf_client::{ClientError, ClientOptions, SparseIndex};
use wharf_index_format::index_path;
use wharf_resolver::{ResolveOptions, RootManifest, resolve};

use crate::line;
use crate::server::{Answer, TestServer};

/// A certificate authority that exists only for one test.
fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A TLS server configuration whose certificate, signed by `ca`, names `hosts`.
fn server_config(ca: &CertifiedIssuer<'static, KeyPair>, hosts: &[&str]) -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let hosts: Vec<String> = hosts.iter().map(|host| (*host).to_owned()).collect();
    let cert = CertificateParams::new(hosts)
        .unwrap()
        .signed_by(&key, ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), ca.der().clone()], key)
            .unwrap();
    Arc::new(config)
}

/// Writes `text` to `name` in `dir`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn with_ca_certs(ca_certs: Vec<PathBuf>) -> ClientOptions {
    ClientOptions {
        ca_certs,
        ..ClientOptions::default()
    }
}

/// `app` → `web` → (`json`, `log`), with a version of each that does not fit.
fn publish(server: &TestServer) {
    let files = [
        (
            "web",
            vec![
                line("web", "1.0.0", &[("json", "^1"), ("log", "^0.4")]),
                line("web", "2.0.0", &[("json", "^2")]),
            ],
        ),
        (
            "json",
            vec![line("json", "1.0.3", &[]), line("json", "2.0.0", &[])],
        ),
        (
            "log",
            vec![line("log", "0.4.20", &[]), line("log", "0.5.0", &[])],
        ),
    ];
    for (name, lines) in files {
        let path = format!("/index/{}", index_path(name));
        server.set(&path, Answer::ok(lines.join("\n") + "\n"));
    }
}

fn root() -> RootManifest {
    RootManifest::from_toml_str(
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\nweb = \"1\"\n",
        Path::new("."),
    )
    .unwrap()
}

#[test]
fn https_with_the_ca_resolves_exactly_like_http() {
    let ca = certificate_authority("Wharf test CA");
    let unrelated = certificate_authority("Unrelated CA");
    let dir = tempfile::tempdir().unwrap();
    // Several files and several certificates in one file are all trusted.
    let ca_certs = vec![
        write(dir.path(), "unrelated.pem", &unrelated.pem()),
        write(
            dir.path(),
            "bundle.pem",
            &format!("{}{}", certificate_authority("Other").pem(), ca.pem()),
        ),
    ];
    let plain = TestServer::start();
    let secure = TestServer::start_tls(server_config(&ca, &["127.0.0.1", "localhost"]));
    publish(&plain);
    publish(&secure);

    let over_http = SparseIndex::new(&plain.index_url(), None).unwrap();
    let expected = resolve(&over_http, &root(), &ResolveOptions::default()).unwrap();
    assert_eq!(expected.packages.len(), 3, "{}", expected.to_json());

    let over_https =
        SparseIndex::with_options(&secure.index_url(), None, &with_ca_certs(ca_certs)).unwrap();
    assert!(over_https.url().as_str().starts_with("https://127.0.0.1:"));
    assert_eq!(
        over_https.config().dl,
        format!("https://127.0.0.1:{}/dl", secure.port())
    );
    let resolution = resolve(&over_https, &root(), &ResolveOptions::default()).unwrap();
    assert_eq!(resolution.to_json(), expected.to_json());
    assert!(
        secure
            .seen()
            .iter()
            .any(|seen| seen.path == format!("/index/{}", index_path("log"))),
        "the files came over TLS"
    );
}

#[test]
fn an_untrusted_certificate_is_a_certificate_error_naming_the_url() {
    let ca = certificate_authority("Wharf test CA");
    let server = TestServer::start_tls(server_config(&ca, &["127.0.0.1"]));
    let error = SparseIndex::new(&server.index_url(), None).unwrap_err();
    assert!(
        matches!(error, ClientError::Certificate { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    let url = format!("https://127.0.0.1:{}/index/config.json", server.port());
    assert!(
        message.starts_with(&format!("TLS certificate problem with `{url}`")),
        "{message}"
    );
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(
        message.contains("--ca-cert") && message.contains("WHARF_CA_CERT"),
        "{message}"
    );
    // The server never saw a request: the handshake ended it.
    assert!(server.seen().is_empty());
}

#[test]
fn a_certificate_for_another_host_is_refused_even_from_a_trusted_ca() {
    let ca = certificate_authority("Wharf test CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.pem());
    let server = TestServer::start_tls(server_config(&ca, &["registry.example"]));
    let error = SparseIndex::with_options(&server.index_url(), None, &with_ca_certs(vec![ca_file]))
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Certificate { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "`https://127.0.0.1:{}/index/config.json`",
            server.port()
        )),
        "{message}"
    );
    assert!(message.contains("not valid for name"), "{message}");
    assert!(message.contains("registry.example"), "{message}");
    assert!(
        message.contains("the certificate is for another host"),
        "{message}"
    );
    assert!(!message.contains("--ca-cert"), "{message}");
}

#[test]
fn https_to_a_plain_http_server_is_a_tls_error() {
    // A plain HTTP server that answers whatever arrives, the TLS hello included.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut hello = [0_u8; 512];
        let _ = stream.read(&mut hello);
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        // Wait for the client to hang up.
        let _ = stream.read_to_end(&mut Vec::new());
    });
    let error =
        SparseIndex::new(&format!("sparse+https://127.0.0.1:{port}/index/"), None).unwrap_err();
    server.join().unwrap();
    assert!(matches!(error, ClientError::Tls { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "TLS handshake with `https://127.0.0.1:{port}/index/config.json` failed"
        )),
        "{message}"
    );
    assert!(message.contains("corrupt message"), "{message}");
}

#[test]
fn a_ca_file_that_cannot_be_used_is_named() {
    let ca = certificate_authority("Wharf test CA");
    let server = TestServer::start_tls(server_config(&ca, &["127.0.0.1"]));
    let dir = tempfile::tempdir().unwrap();
    let key_only = KeyPair::generate().unwrap().serialize_pem();
    let damaged = ca.pem().replacen("MII", "MIX", 1);
    let cases = [
        (dir.path().join("missing.pem"), "No such file"),
        (
            write(dir.path(), "notes.txt", "just some text\n"),
            "no `BEGIN CERTIFICATE` section",
        ),
        (
            write(dir.path(), "key.pem", &key_only),
            "no `BEGIN CERTIFICATE` section",
        ),
        (
            write(dir.path(), "cut.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n"),
            "not a PEM file: a section has no `END` line",
        ),
        (
            write(dir.path(), "damaged.pem", &damaged),
            "certificate 1 is not a valid X.509 certificate",
        ),
    ];
    for (path, needle) in cases {
        let error = SparseIndex::with_options(
            &server.index_url(),
            None,
            &with_ca_certs(vec![path.clone()]),
        )
        .unwrap_err();
        assert!(matches!(error, ClientError::CaCert { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot use `{}` as a CA certificate",
                path.display()
            )),
            "{message}"
        );
        assert!(message.contains(needle), "{path:?}: {message}");
    }
    // A bad file is found before any request is sent.
    assert!(server.seen().is_empty());
}

//! `wharf serve --tls-cert --tls-key`: cargo publishes and builds over HTTPS, multiplexing
//! over HTTP/2; ALPN offers both versions; SIGHUP reloads the certificate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, describe};

use crate::pki::TestPki;

/// The value of `wharf_http_requests_by_version_total{version="VERSION"}` in `metrics`.
fn requests_by_version(metrics: &str, version: &str) -> TestResult<u64> {
    let prefix = format!("wharf_http_requests_by_version_total{{version=\"{version}\"}} ");
    let value = metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .ok_or_else(|| format!("no `{prefix}` line in /metrics:\n{metrics}"))?;
    Ok(value.trim().parse()?)
}

#[test]
fn cargo_publishes_and_builds_over_https_using_http2() -> TestResult {
    let pki = TestPki::new()?;
    let server = pki.issue("server")?;
    let registry = TestRegistry::start_https(&server.flags(), &pki.ca_pem());
    assert!(
        registry
            .index_url()
            .starts_with("sparse+https://127.0.0.1:"),
        "{}",
        registry.index_url()
    );
    // Without --public-url, config.json points cargo at the HTTPS address.
    let config: serde_json::Value = registry
        .http1()
        .get(format!("{}/index/config.json", registry.url()))
        .send()?
        .json()?;
    assert_eq!(config["api"], registry.url());
    assert_eq!(
        config["dl"],
        format!("{}/blobs/sha256/{{sha256-checksum}}", registry.url())
    );

    let cargo = CargoEnv::new(&registry.index_url()).with_var("CARGO_HTTP_CAINFO", pki.ca_file());
    cargo.login(&registry.admin_token);
    let lib = CrateProject::new("tls-lib", "0.1.0")
        .lib("pub fn greeting() -> &'static str { \"hello over https\" }\n")
        .write(cargo.work_dir());
    cargo.cargo_ok(&lib, &["publish", "--registry", "wharf", "--allow-dirty"]);
    let app = CrateProject::new("tls-app", "0.1.0")
        .dep("tls-lib", r#"{ version = "0.1", registry = "wharf" }"#)
        .main("fn main() { println!(\"{}\", tls_lib::greeting()); }\n")
        .write(cargo.work_dir());
    let run = cargo.cargo_ok(&app, &["run", "--quiet"]);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello over https\n",
        "{}",
        describe(&run)
    );

    // Every request cargo made came over HTTP/2; HTTP/1.1 carried only this test's two
    // (config.json above and this /metrics).
    let metrics = registry
        .http1()
        .get(format!("{}/metrics", registry.url()))
        .send()?
        .error_for_status()?
        .text()?;
    assert!(requests_by_version(&metrics, "HTTP/2.0")? > 0, "{metrics}");
    assert_eq!(requests_by_version(&metrics, "HTTP/1.1")?, 2, "{metrics}");
    Ok(())
}

/// A TLS client that trusts only `ca_pem` and offers `alpn`.
fn tls_client(ca_pem: &str, alpn: &[&str]) -> TestResult<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

/// Completes a handshake with the registry and returns the stream.
fn connect(
    registry: &TestRegistry,
    config: Arc<ClientConfig>,
) -> TestResult<StreamOwned<ClientConnection, TcpStream>> {
    let addr = registry.url().trim_start_matches("https://").to_owned();
    let connection = ClientConnection::new(config, ServerName::try_from("127.0.0.1")?)?;
    let mut stream = StreamOwned::new(connection, TcpStream::connect(addr)?);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// The certificate a new connection is served.
fn served_certificate(registry: &TestRegistry, ca_pem: &str) -> TestResult<Vec<u8>> {
    let stream = connect(registry, tls_client(ca_pem, &[])?)?;
    let chain = stream
        .conn
        .peer_certificates()
        .ok_or("the server sent no certificate")?;
    Ok(chain[0].to_vec())
}

#[test]
fn alpn_offers_http2_and_http11() -> TestResult {
    let pki = TestPki::new()?;
    let server = pki.issue("server")?;
    let registry = TestRegistry::start_https(&server.flags(), &pki.ca_pem());

    let both = connect(&registry, tls_client(&pki.ca_pem(), &["h2", "http/1.1"])?)?;
    assert_eq!(both.conn.alpn_protocol(), Some(&b"h2"[..]));

    let mut http11 = connect(&registry, tls_client(&pki.ca_pem(), &["http/1.1"])?)?;
    assert_eq!(http11.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    http11.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    // After `Connection: close` the server ends the TLS session cleanly (close_notify).
    http11.read_to_string(&mut answer)?;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok\n"), "{answer}");

    // A client that does not trust the authority gets no answer at all.
    let stranger = TestPki::new()?;
    assert!(connect(&registry, tls_client(&stranger.ca_pem(), &[])?).is_err());
    Ok(())
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_it_when_the_new_files_are_bad() -> TestResult {
    let pki = TestPki::new()?;
    let first = pki.issue("first")?;
    let (cert, key) = (pki.dir().join("served.crt"), pki.dir().join("served.key"));
    std::fs::copy(&first.cert, &cert)?;
    std::fs::copy(&first.key, &key)?;
    // The config file's keys name the files.
    let config = pki.dir().join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            "tls-cert = \"{}\"\ntls-key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )?;
    let registry = TestRegistry::start_https(
        &["--config", config.to_str().ok_or("a UTF-8 temp path")?],
        &pki.ca_pem(),
    );
    assert_eq!(served_certificate(&registry, &pki.ca_pem())?, first.der);

    let second = pki.issue("second")?;
    std::fs::copy(&second.cert, &cert)?;
    std::fs::copy(&second.key, &key)?;
    hang_up(&registry)?;
    // The reload happens when the signal is handled; new connections then get the new one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while served_certificate(&registry, &pki.ca_pem())? != second.der {
        assert!(
            std::time::Instant::now() < deadline,
            "still the first certificate a minute after SIGHUP"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // A key that is not the certificate's is refused, and the second certificate stays.
    let stray = pki.issue("stray")?;
    std::fs::copy(&stray.key, &key)?;
    hang_up(&registry)?;
    let line = registry.wait_for_log("TLS certificate not reloaded");
    assert!(
        line.ends_with(&format!(
            "TLS certificate not reloaded, still serving the previous one: TLS private key file `{}` does not match the certificate in `{}`; give the key the certificate was issued for (the server's certificate must come first in its file)",
            key.display(),
            cert.display()
        )),
        "{line}"
    );
    assert_eq!(served_certificate(&registry, &pki.ca_pem())?, second.der);
    let health = registry
        .http()
        .get(format!("{}/health", registry.url()))
        .send()?;
    assert_eq!(health.status(), 200);
    Ok(())
}

/// Sends SIGHUP to the server.
fn hang_up(registry: &TestRegistry) -> TestResult {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &registry.pid().to_string()])
        .status()?;
    assert!(status.success(), "kill -HUP failed: {status}");
    Ok(())
}

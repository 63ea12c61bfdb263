//! `wharf serve` refuses unusable certificate and key files at start with one line naming
//! the file, the cause and what to do, exits non-zero and creates nothing.

use std::path::Path;
use std::process::Command;

use wharf_e2e_tests::{TestResult, describe, wharf_binary};

use crate::pki::TestPki;

/// Runs `wharf serve` with `args` (and `vars`) on a data directory inside `pki`'s directory,
/// asserts it fails with exactly `error: EXPECTED` and that the data directory was not made.
fn assert_refused(pki: &TestPki, args: &[&str], vars: &[(&str, &Path)], expected: &str) {
    let data = pki.dir().join("data");
    let output = Command::new(wharf_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("WHARF_TLS_CERT")
        .env_remove("WHARF_TLS_KEY")
        .env_remove("WHARF_CONFIG")
        .envs(vars.iter().copied())
        .output()
        .expect("the wharf binary runs");
    assert!(!output.status.success(), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("error: {expected}\n")
    );
    assert!(!data.exists(), "a refused start created {}", data.display());
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

#[test]
fn missing_files_are_named() -> TestResult {
    let pki = TestPki::new()?;
    let server = pki.issue("server")?;
    let missing = pki.dir().join("missing.crt");
    assert_refused(
        &pki,
        &["--tls-cert", utf8(&missing), "--tls-key", utf8(&server.key)],
        &[],
        &format!(
            "TLS certificate file `{}` cannot be read: No such file or directory (os error 2); check the path and that wharf may read the file",
            missing.display()
        ),
    );
    // The same through the environment variables, for the key.
    let missing = pki.dir().join("missing.key");
    assert_refused(
        &pki,
        &[],
        &[
            ("WHARF_TLS_CERT", &server.cert),
            ("WHARF_TLS_KEY", &missing),
        ],
        &format!(
            "TLS private key file `{}` cannot be read: No such file or directory (os error 2); check the path and that wharf may read the file",
            missing.display()
        ),
    );
    Ok(())
}

#[test]
fn files_that_are_not_pem_or_hold_the_wrong_thing_are_named() -> TestResult {
    let pki = TestPki::new()?;
    let server = pki.issue("server")?;

    let der = pki.dir().join("server.der");
    std::fs::write(&der, &server.der)?;
    assert_refused(
        &pki,
        &["--tls-cert", utf8(&der), "--tls-key", utf8(&server.key)],
        &[],
        &format!(
            "TLS certificate file `{0}` is not PEM (no `-----BEGIN ...-----` line); give the certificate in PEM, e.g. converted from DER with `openssl x509 -inform der -in {0} -out cert.pem`",
            der.display()
        ),
    );

    // The key given where the certificate belongs, and the other way round.
    assert_refused(
        &pki,
        &[
            "--tls-cert",
            utf8(&server.key),
            "--tls-key",
            utf8(&server.key),
        ],
        &[],
        &format!(
            "TLS certificate file `{}` holds no certificate (found: PRIVATE KEY); give the PEM file with the server's certificate (`-----BEGIN CERTIFICATE-----`) first, then any intermediate ones",
            server.key.display()
        ),
    );
    assert_refused(
        &pki,
        &[
            "--tls-cert",
            utf8(&server.cert),
            "--tls-key",
            utf8(&server.cert),
        ],
        &[],
        &format!(
            "TLS private key file `{}` holds no private key (found: CERTIFICATE); give the PEM file with the server's key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)",
            server.cert.display()
        ),
    );

    let encrypted = pki.dir().join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )?;
    assert_refused(
        &pki,
        &[
            "--tls-cert",
            utf8(&server.cert),
            "--tls-key",
            utf8(&encrypted),
        ],
        &[],
        &format!(
            "TLS private key file `{0}` holds an encrypted key; give it decrypted, e.g. `openssl pkey -in {0} -out key.pem` (keep the result readable only by wharf)",
            encrypted.display()
        ),
    );
    Ok(())
}

#[test]
fn a_key_of_another_certificate_is_refused() -> TestResult {
    let pki = TestPki::new()?;
    let server = pki.issue("server")?;
    let other = pki.issue("other")?;
    assert_refused(
        &pki,
        &[
            "--tls-cert",
            utf8(&server.cert),
            "--tls-key",
            utf8(&other.key),
        ],
        &[],
        &format!(
            "TLS private key file `{}` does not match the certificate in `{}`; give the key the certificate was issued for (the server's certificate must come first in its file)",
            other.key.display(),
            server.cert.display()
        ),
    );
    Ok(())
}

#[test]
fn a_certificate_without_a_key_is_refused() -> TestResult {
    let pki = TestPki::new()?;
    let server = pki.issue("server")?;
    assert_refused(
        &pki,
        &["--tls-cert", utf8(&server.cert)],
        &[],
        "`tls-cert` is set without `tls-key`; give the certificate's private key too (--tls-key, WHARF_TLS_KEY or the config key `tls-key`), or neither for plain HTTP",
    );
    Ok(())
}

//! A registry whose blobs live on a real S3 server (Garage on loopback): the real cargo
//! publishes, yanks and builds against `wharf serve --storage s3://…`, downloads through
//! presigned redirects, the admin commands find the blobs in the bucket, and an unusable
//! bucket stops the server before it serves.

use std::path::Path;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, describe, wharf_binary};
use wharf_test_support::garage::GarageServer;

const PUBLISH: [&str; 4] = ["publish", "--registry", "wharf", "--no-verify"];

/// A registry on a fresh data directory with its blobs under `s3://wharf/<prefix>`.
fn registry_on(garage: &GarageServer, prefix: &str, extra: &[&str]) -> TestRegistry {
    let url = garage.url(prefix);
    let mut args = vec!["--storage", url.as_str()];
    args.extend_from_slice(extra);
    TestRegistry::start_with_env(&args, &garage.aws_env())
}

/// Publishes `s3-base` 1.0.0 and 1.1.0 and writes a consumer of `s3-base = "1"`.
fn publish_base_and_write_consumer(cargo: &CargoEnv, work: &Path) -> std::path::PathBuf {
    for (version, value) in [("1.0.0", 10), ("1.1.0", 11)] {
        let base = CrateProject::new("s3-base", version)
            .lib(&format!("pub fn value() -> u32 {{ {value} }}"))
            .write(work);
        cargo.cargo_ok(&base, &PUBLISH);
    }
    CrateProject::new("s3-consumer", "0.1.0")
        .dep("s3-base", r#"{ version = "1", registry = "wharf" }"#)
        .main(r#"fn main() { println!("value={}", s3_base::value()); }"#)
        .write(work)
}

fn run_consumer(cargo: &CargoEnv, consumer: &Path) -> String {
    let _ = std::fs::remove_file(consumer.join("Cargo.lock"));
    let run = cargo.cargo_ok(consumer, &["run", "--quiet"]);
    String::from_utf8_lossy(&run.stdout).trim().to_owned()
}

#[test]
fn cargo_publishes_yanks_and_builds_with_blobs_on_s3() -> TestResult {
    let garage = GarageServer::start();
    let mut registry = registry_on(&garage, "e2e/blobs", &[]);
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();
    let consumer = publish_base_and_write_consumer(&cargo, &work);
    assert_eq!(run_consumer(&cargo, &consumer), "value=11");

    // A yanked version is no longer chosen for a new lock file.
    cargo.cargo_ok(
        &work,
        &[
            "yank",
            "--registry",
            "wharf",
            "s3-base",
            "--version",
            "1.1.0",
        ],
    );
    assert_eq!(run_consumer(&cargo, &consumer), "value=10");

    // The blobs are in the bucket, not in the data directory, which records the bucket.
    let data = registry.data_dir().to_path_buf();
    assert!(!data.join("blobs").exists());
    assert_eq!(
        std::fs::read_to_string(data.join("blob-storage"))?.trim(),
        "s3://wharf/e2e/blobs"
    );
    // The admin commands find them there: verify reads every blob back and checks its hash.
    let reconcile = registry.run_on_data(&["admin", "reconcile"], &[]);
    assert!(reconcile.status.success(), "{}", describe(&reconcile));
    let verified = String::from_utf8_lossy(&reconcile.stdout).into_owned();
    assert!(verified.contains("and 2 blobs: 0 problems"), "{verified}");
    let gc = registry.run_on_data(&["admin", "gc"], &["--dry-run"]);
    assert!(gc.status.success(), "{}", describe(&gc));
    let listed = String::from_utf8_lossy(&gc.stdout).into_owned();
    assert!(listed.contains("listed 2 blobs: 2 referenced"), "{listed}");

    // After a restart a fresh cargo home resolves and builds from the bucket's blobs.
    registry.restart();
    let fresh = CargoEnv::new(&registry.index_url());
    fresh.login(&registry.admin_token);
    assert_eq!(run_consumer(&fresh, &consumer), "value=10");
    Ok(())
}

/// `len` bytes that do not compress (a counter through SHA-256).
fn incompressible(len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 32);
    let mut block = 0u64;
    while bytes.len() < len {
        bytes.extend_from_slice(&Sha256::digest(block.to_le_bytes()));
        block += 1;
    }
    bytes.truncate(len);
    bytes
}

#[test]
fn a_large_crate_downloads_byte_identical_from_the_bucket() -> TestResult {
    let garage = GarageServer::start();
    let registry = registry_on(&garage, "e2e/large", &["--max-crate-bytes", "67108864"]);
    let krate = wharf_test_support::CrateBuilder::standard("s3-large", "1.0.0")
        .file_with_mode("data.bin", &incompressible(24 << 20), 0o644)
        .build();
    assert!(krate.len() > 24 << 20, "{} bytes", krate.len());
    let body = wharf_test_support::body(
        &wharf_test_support::metadata_json("s3-large", "1.0.0"),
        &krate,
    );
    let published = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(body)
        .send()?;
    assert_eq!(published.status(), StatusCode::OK, "{}", published.text()?);

    let download = registry
        .http()
        .get(format!(
            "{}/api/v1/crates/s3-large/1.0.0/download",
            registry.url()
        ))
        .send()?;
    assert_eq!(download.status(), StatusCode::OK);
    // Streamed with its length announced, so a cut-off transfer is seen as one.
    assert_eq!(download.content_length(), Some(krate.len() as u64));
    let served = download.bytes()?;
    assert_eq!(served.len(), krate.len());
    assert!(
        served == krate,
        "the served bytes differ from the published crate"
    );
    Ok(())
}

#[test]
fn cargo_downloads_through_presigned_redirects_to_the_bucket() -> TestResult {
    let garage = GarageServer::start();
    let registry = registry_on(&garage, "", &["--s3-presigned-downloads"]);
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();
    let consumer = publish_base_and_write_consumer(&cargo, &work);

    // The download is a redirect to a signed URL of the bucket, and that URL serves the
    // exact bytes the index's checksum names.
    let http = wharf_e2e_tests::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let index = http
        .get(format!("{}/index/s3/-b/s3-base", registry.url()))
        .send()?
        .text()?;
    let first: serde_json::Value = serde_json::from_str(index.lines().next().unwrap_or("{}"))?;
    let cksum = first["cksum"].as_str().unwrap_or_default().to_owned();
    let answer = http
        .get(format!(
            "{}/api/v1/crates/s3-base/1.0.0/download",
            registry.url()
        ))
        .send()?;
    assert_eq!(answer.status(), StatusCode::FOUND);
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(location.starts_with(&garage.endpoint), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let bytes = http.get(&location).send()?.error_for_status()?.bytes()?;
    assert_eq!(hex::encode(Sha256::digest(&bytes)), cksum);
    let missing = http
        .get(format!(
            "{}/blobs/sha256/{}",
            registry.url(),
            "0".repeat(64)
        ))
        .send()?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // cargo follows the redirects: a clean build downloads every crate from the bucket.
    assert_eq!(run_consumer(&cargo, &consumer), "value=11");
    Ok(())
}

/// Runs `wharf serve` with `args` and the bucket's variables, expecting it to refuse to
/// start; returns its error output.
fn refused_serve(garage: &GarageServer, data: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(wharf_binary())
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .envs(garage.aws_env())
        .output()
        .expect("the wharf binary runs");
    assert!(!output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn serve_refuses_an_unusable_bucket_before_it_serves() -> TestResult {
    let garage = GarageServer::start();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let missing = refused_serve(&garage, &data, &["--storage", "s3://no-such-bucket/x"]);
    assert!(
        missing.contains("s3://no-such-bucket/x") && missing.contains("does not exist"),
        "{missing}"
    );
    assert!(!data.join("wharf.db").exists(), "no registry was made");
    let presigned = refused_serve(&garage, &data, &["--s3-presigned-downloads"]);
    assert!(
        presigned.contains("`s3-presigned-downloads` needs blobs in an S3 bucket"),
        "{presigned}"
    );
    // A registry that keeps its blobs on the local disk is not silently moved to a bucket.
    let mut local = TestRegistry::start();
    local.stop();
    let url = garage.url("elsewhere");
    let moved = refused_serve(&garage, local.data_dir(), &["--storage", &url]);
    assert!(
        moved.contains("keeps its blobs in") && moved.contains("blobs"),
        "{moved}"
    );
    Ok(())
}

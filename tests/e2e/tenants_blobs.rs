//! Blobs shared by a server's tenants: identical bytes published to two tenants are one copy
//! on disk (each tenant's blob a hard link to it), a tenant that does not list a blob gets
//! exactly the answer bytes nobody published get, and collecting one tenant's unreferenced
//! blob removes only that tenant's link: the tenants that list the bytes keep serving them,
//! and the shared copy goes once no tenant links it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

use crate::backup::take_backup;
use crate::tenants::{create_tenant, tenant_token, wait_for_tenant};

/// A SHA-256 no blob has.
const NO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The file of blob `hash` under a blob directory (`.../blobs` or the shared `.blobs`).
fn blob_file(blobs: &Path, hash: &str) -> PathBuf {
    blobs.join(format!("sha256/{}/{}/{hash}", &hash[..2], &hash[2..4]))
}

/// Tenant `tenant`'s own blob directory.
fn tenant_blobs(registry: &TestRegistry, tenant: &str) -> PathBuf {
    registry
        .data_dir()
        .join("tenants")
        .join(tenant)
        .join("blobs")
}

/// The directory of the copies the tenants share.
fn shared_blobs(registry: &TestRegistry) -> PathBuf {
    registry.data_dir().join("tenants/.blobs")
}

/// Publishes `name` 1.0.0 to `tenant` with `token`; returns the `.crate` file's SHA-256.
fn publish(registry: &TestRegistry, tenant: &str, token: &str, name: &str) -> TestResult<String> {
    let body = publish_body(name, "1.0.0");
    let published = registry
        .http()
        .put(format!("{}/t/{tenant}/api/v1/crates/new", registry.url()))
        .header("Authorization", token)
        .body(body)
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    let entry = registry
        .http()
        .get(format!(
            "{}/t/{tenant}/index/{}/{}/{name}",
            registry.url(),
            &name[..2],
            &name[2..4]
        ))
        .header("Authorization", token)
        .send()?
        .text()?;
    let line: serde_json::Value = serde_json::from_str(entry.lines().next().unwrap_or_default())?;
    Ok(line["cksum"].as_str().unwrap_or_default().to_owned())
}

/// `GET /t/{tenant}/blobs/sha256/{hash}` with `token`: status and body.
fn download(
    registry: &TestRegistry,
    tenant: &str,
    token: &str,
    hash: &str,
) -> TestResult<(u16, Vec<u8>)> {
    let response = registry
        .http()
        .get(format!("{}/t/{tenant}/blobs/sha256/{hash}", registry.url()))
        .header("Authorization", token)
        .send()?;
    Ok((response.status().as_u16(), response.bytes()?.to_vec()))
}

/// `wharf admin gc --grace 0s` on tenant `tenant`'s data directory: its output.
fn collect(registry: &TestRegistry, tenant: &str) -> TestResult<String> {
    let output = Command::new(wharf_binary())
        .args(["admin", "gc", "--grace", "0s", "--verbose", "--data"])
        .arg(registry.data_dir().join("tenants").join(tenant))
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

#[test]
fn tenants_share_identical_blobs_but_serve_and_collect_only_their_own() -> TestResult {
    let registry = TestRegistry::start();
    let mut tokens = Vec::new();
    for (tenant, user) in [("acme", "alice"), ("beta", "bob"), ("gamma", "carol")] {
        create_tenant(&registry, tenant, &["--auth-required"]);
        let token = tenant_token(&registry, tenant, user);
        wait_for_tenant(&registry, tenant, &token, 200)?;
        tokens.push(token);
    }
    let [alice, bob, carol] = [&tokens[0], &tokens[1], &tokens[2]];

    // The same bytes published to two tenants: one copy, linked from both.
    let hash = publish(&registry, "acme", alice, "shared-lib")?;
    assert_eq!(publish(&registry, "beta", bob, "shared-lib")?, hash);
    let shared = blob_file(&shared_blobs(&registry), &hash);
    let in_acme = blob_file(&tenant_blobs(&registry, "acme"), &hash);
    let in_beta = blob_file(&tenant_blobs(&registry, "beta"), &hash);
    let inode = |path: &Path| std::fs::metadata(path).map(|meta| meta.ino());
    assert_eq!(inode(&in_acme)?, inode(&shared)?);
    assert_eq!(inode(&in_beta)?, inode(&shared)?);
    assert_eq!(std::fs::metadata(&shared)?.nlink(), 3);
    let (status, bytes) = download(&registry, "beta", bob, &hash)?;
    assert_eq!(status, 200);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), hash);

    // A tenant that does not list the bytes gets what bytes nobody published get.
    let (theirs, theirs_body) = download(&registry, "gamma", carol, &hash)?;
    let (none, none_body) = download(&registry, "gamma", carol, NO_HASH)?;
    assert_eq!(theirs, 404);
    assert_eq!(theirs, none);
    assert_eq!(
        String::from_utf8(theirs_body)?.replace(&hash, NO_HASH),
        String::from_utf8(none_body)?
    );

    // A publish to gamma that wrote its blob and never committed (a crash between the two)
    // left gamma a link to the same bytes, which no version of gamma lists. Collecting
    // gamma's garbage removes gamma's link only.
    let in_gamma = blob_file(&tenant_blobs(&registry, "gamma"), &hash);
    std::fs::create_dir_all(in_gamma.parent().ok_or("a parent")?)?;
    std::fs::hard_link(&shared, &in_gamma)?;
    let report = collect(&registry, "gamma")?;
    assert!(report.contains(&hash), "{report}");
    assert!(!in_gamma.exists());
    assert!(shared.exists() && in_acme.exists() && in_beta.exists());
    for (tenant, token) in [("acme", alice), ("beta", bob)] {
        let (status, bytes) = download(&registry, tenant, token, &hash)?;
        assert_eq!(status, 200, "{tenant}");
        assert_eq!(hex::encode(Sha256::digest(&bytes)), hash, "{tenant}");
    }
    // Collecting in a tenant that lists the bytes keeps them.
    let report = collect(&registry, "acme")?;
    assert!(!report.contains(&hash), "{report}");
    assert!(in_acme.exists());

    // Bytes only beta had, never committed: once beta's collection removed its link, no
    // tenant links them, and the shared copy goes too.
    let bytes = b"the bytes of a publish that never committed";
    let orphan = hex::encode(Sha256::digest(bytes));
    let shared_orphan = blob_file(&shared_blobs(&registry), &orphan);
    let in_beta_orphan = blob_file(&tenant_blobs(&registry, "beta"), &orphan);
    for path in [&shared_orphan, &in_beta_orphan] {
        std::fs::create_dir_all(path.parent().ok_or("a parent")?)?;
    }
    std::fs::write(&shared_orphan, bytes)?;
    std::fs::hard_link(&shared_orphan, &in_beta_orphan)?;
    let report = collect(&registry, "beta")?;
    assert!(report.contains(&orphan), "{report}");
    assert!(!in_beta_orphan.exists());
    assert!(!shared_orphan.exists());
    assert!(shared.exists(), "the bytes acme and beta list stay");
    Ok(())
}

/// Tenants `acme` and `beta`, each with `shared-lib` 1.0.0 published (the same bytes): their
/// tokens and the crate's SHA-256.
fn two_tenants_with_one_crate(registry: &TestRegistry) -> TestResult<([String; 2], String)> {
    let mut tokens = Vec::new();
    for (tenant, user) in [("acme", "alice"), ("beta", "bob")] {
        create_tenant(registry, tenant, &["--auth-required"]);
        let token = tenant_token(registry, tenant, user);
        wait_for_tenant(registry, tenant, &token, 200)?;
        tokens.push(token);
    }
    let hash = publish(registry, "acme", &tokens[0], "shared-lib")?;
    assert_eq!(publish(registry, "beta", &tokens[1], "shared-lib")?, hash);
    Ok(([tokens[0].clone(), tokens[1].clone()], hash))
}

/// Runs `wharf ARGS`; its output, which must say it succeeded.
fn wharf_ok(args: &[&std::ffi::OsStr]) -> TestResult<String> {
    let output = Command::new(wharf_binary()).args(args).output()?;
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// `wharf admin reconcile` on the tenant in `dir` finds nothing wrong.
fn reconciles_clean(dir: &Path) -> TestResult {
    let report = wharf_ok(&[
        "admin".as_ref(),
        "reconcile".as_ref(),
        "--data".as_ref(),
        dir.as_os_str(),
    ])?;
    assert!(report.contains(": 0 problems"), "{report}");
    Ok(())
}

#[test]
fn blobs_written_before_sharing_become_links_to_one_copy_at_the_next_collection() -> TestResult {
    let registry = TestRegistry::start();
    let ([alice, bob], hash) = two_tenants_with_one_crate(&registry)?;
    // Laid out as a Wharf that did not share blobs wrote them: a separate file in each
    // tenant, no shared copy.
    let files = [
        blob_file(&tenant_blobs(&registry, "acme"), &hash),
        blob_file(&tenant_blobs(&registry, "beta"), &hash),
    ];
    let shared = blob_file(&shared_blobs(&registry), &hash);
    for file in &files {
        let bytes = std::fs::read(file)?;
        std::fs::remove_file(file)?;
        std::fs::write(file, &bytes)?;
    }
    std::fs::remove_file(&shared)?;
    let size = std::fs::metadata(&files[0])?.len();

    let acme = registry.data_dir().join("tenants/acme");
    let dry = wharf_ok(&[
        "admin".as_ref(),
        "gc".as_ref(),
        "--dry-run".as_ref(),
        "--data".as_ref(),
        acme.as_os_str(),
    ])?;
    assert!(
        dry.contains("would turn 1 blob file written before tenants shared blobs into links to the shared copies, freeing 0 bytes (dry run: nothing changed)"),
        "{dry}"
    );
    assert!(!shared.exists());
    let report = collect(&registry, "acme")?;
    assert!(report.contains("turned 1 blob file"), "{report}");
    let report = collect(&registry, "beta")?;
    assert!(
        report.contains(&format!("turned 1 blob file written before tenants shared blobs into links to the shared copies, freeing {size} bytes")),
        "{report}"
    );
    let inode = |path: &Path| std::fs::metadata(path).map(|meta| meta.ino());
    for file in &files {
        assert_eq!(inode(file)?, inode(&shared)?, "{}", file.display());
    }
    assert_eq!(std::fs::metadata(&shared)?.nlink(), 3);
    for (tenant, token) in [("acme", &alice), ("beta", &bob)] {
        let (status, bytes) = download(&registry, tenant, token, &hash)?;
        assert_eq!(status, 200, "{tenant}");
        assert_eq!(hex::encode(Sha256::digest(&bytes)), hash, "{tenant}");
    }
    let again = collect(&registry, "beta")?;
    assert!(!again.contains("turned"), "{again}");
    reconciles_clean(&acme)
}

#[test]
fn a_restore_puts_tenants_blobs_back_as_links_to_one_copy() -> TestResult {
    let registry = TestRegistry::start();
    let ([_, bob], hash) = two_tenants_with_one_crate(&registry)?;
    let own = publish(&registry, "beta", &bob, "beta-only")?;
    let work = tempfile::tempdir()?;
    let backup = work.path().join("tenants.wharf-backup");
    take_backup(&registry, &backup);
    let restored = work.path().join("restored");
    let report = wharf_ok(&[
        "admin".as_ref(),
        "restore".as_ref(),
        backup.as_os_str(),
        "--data".as_ref(),
        restored.as_os_str(),
    ])?;
    assert!(report.contains("restore clean"), "{report}");

    let tenants = restored.join("tenants");
    let shared = blob_file(&tenants.join(".blobs"), &hash);
    let inode = |path: &Path| std::fs::metadata(path).map(|meta| meta.ino());
    for tenant in ["acme", "beta"] {
        let file = blob_file(&tenants.join(tenant).join("blobs"), &hash);
        assert_eq!(inode(&file)?, inode(&shared)?, "{tenant}");
    }
    assert_eq!(
        std::fs::metadata(&shared)?.nlink(),
        3,
        "one copy, linked by both"
    );
    let only = blob_file(&tenants.join("beta/blobs"), &own);
    assert_eq!(
        inode(&only)?,
        inode(&blob_file(&tenants.join(".blobs"), &own))?
    );
    assert_eq!(std::fs::metadata(&only)?.nlink(), 2);
    for tenant in ["acme", "beta"] {
        reconciles_clean(&tenants.join(tenant))?;
    }
    Ok(())
}

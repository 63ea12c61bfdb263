//! A backup's manifest carries the registry's signature (its release key): a manifest
//! rewritten to match an altered member, a damaged signature, and a backup checked against
//! another registry's root key are each refused with one line naming what failed, leaving
//! nothing behind; the registry's own root key, pinned, restores it clean.

use std::cell::RefCell;

use sha2::{Digest, Sha256};
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::backup::{publish, refused_with, restore_clean, rewrite, take_backup};

const MANIFEST: &str = "wharf-backup-manifest.json";
const SIGNATURE: &str = "wharf-backup-manifest.sig";

#[test]
fn a_forged_manifest_or_a_foreign_root_key_is_refused() -> TestResult {
    let registry = TestRegistry::start();
    let http = registry.http();
    assert!(publish(
        &http,
        &registry.url(),
        &registry.admin_token,
        "sealed",
        "1.0.0"
    ));
    let work = tempfile::tempdir()?;
    let good = work.path().join("good.wharf-backup");
    take_backup(&registry, &good);
    let target = work.path().join("target");

    // The database altered and the manifest rewritten to match it: only the signature
    // tells.
    let forged = work.path().join("forged.wharf-backup");
    let hashes = RefCell::new(None);
    rewrite(&good, &forged, &|path, bytes| {
        if path == "wharf.db" {
            let before = hex::encode(Sha256::digest(&*bytes));
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            *hashes.borrow_mut() = Some((before, hex::encode(Sha256::digest(&*bytes))));
        } else if path == MANIFEST
            && let Some((before, after)) = hashes.borrow().as_ref()
        {
            let manifest = String::from_utf8(bytes.clone()).expect("a JSON manifest");
            assert!(manifest.contains(before.as_str()));
            *bytes = manifest.replace(before.as_str(), after).into_bytes();
        }
    })?;
    refused_with(
        &forged,
        &target,
        &[],
        MANIFEST,
        "is not signed by the release key",
    );

    // The signature damaged.
    let damaged = work.path().join("damaged.wharf-backup");
    rewrite(&good, &damaged, &|path, bytes| {
        if path == SIGNATURE {
            bytes.truncate(bytes.len() / 2);
        }
    })?;
    refused_with(&damaged, &target, &[], SIGNATURE, "is not a signature");

    // Checked against another registry's root key.
    let foreign = work.path().join("foreign.pub");
    std::fs::write(
        &foreign,
        format!("{}\n", wharf_trust::SigningKey::generate().public_key()),
    )?;
    let foreign_flag = ["--root-key", foreign.to_str().expect("UTF-8")];
    refused_with(
        &good,
        &target,
        &foreign_flag,
        "keys/",
        "does not verify from root key",
    );

    // The registry's own root key, pinned, restores it.
    let root = work.path().join("root.pub");
    registry.export_root_key(&root);
    restore_clean(
        &good,
        &target,
        &["--root-key", root.to_str().expect("UTF-8")],
        &[],
    );
    Ok(())
}

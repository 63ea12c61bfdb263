//! The root key offline: `wharf admin root-key new` on one machine, `wharf admin keyset
//! request` on the registry, `wharf admin keyset sign` where the root keys are (the old root
//! and the new one), `wharf admin keyset install` back on the registry. A client that pinned
//! the first root key walks the served chain to the new keyset, whose log key signs the
//! checkpoints from the next start on.

use std::process::{Command, Output};

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};
use wharf_trust::{Checkpoint, KeyRole, PublicKey, UtcTime};

fn wharf(args: &[&str]) -> Output {
    Command::new(wharf_binary())
        .args(args)
        .output()
        .expect("the wharf binary runs")
}

fn ok(output: &Output) -> TestResult<String> {
    assert!(output.status.success(), "{}", describe(output));
    Ok(String::from_utf8(output.stdout.clone())?)
}

#[test]
fn a_keyset_signed_offline_by_the_old_and_new_root_rotates_every_key() -> TestResult {
    let mut registry = TestRegistry::start();
    let offline = tempfile::tempdir()?;
    let path = |name: &str| offline.path().join(name).to_string_lossy().into_owned();
    let old_root =
        PublicKey::parse(ok(&registry.run_on_data(&["admin", "root-key", "export"], &[]))?.trim())?;
    let origin = format!("wharf-{}", old_root.key_id().short());

    let printed = ok(&wharf(&[
        "admin",
        "root-key",
        "new",
        "--out",
        &path("new-root.key"),
    ]))?;
    let new_root = PublicKey::parse(printed.trim())?;
    ok(&registry.run_on_data(
        &["admin", "keyset", "request"],
        &[
            "--out",
            &path("request.txt"),
            "--new-root",
            printed.trim(),
            "--rotate-online",
        ],
    ))?;
    let old_root_file = registry.data_dir().join("keys/root.key");
    ok(&wharf(&[
        "admin",
        "keyset",
        "sign",
        "--root-key",
        old_root_file.to_str().ok_or("path")?,
        "--in",
        &path("request.txt"),
        "--out",
        &path("signed-old.note"),
    ]))?;
    // The old root alone does not make a valid next keyset: nothing is installed.
    let refused = registry.run_on_data(
        &["admin", "keyset", "install"],
        &["--in", &path("signed-old.note")],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("keyset-2.note"), "{stderr}");
    assert!(!registry.data_dir().join("keys/keyset-2.note").exists());

    ok(&wharf(&[
        "admin",
        "keyset",
        "sign",
        "--root-key",
        &path("new-root.key"),
        "--in",
        &path("signed-old.note"),
        "--out",
        &path("signed-both.note"),
    ]))?;
    registry.stop();
    ok(&registry.run_on_data(
        &["admin", "keyset", "install"],
        &["--in", &path("signed-both.note")],
    ))?;
    registry.start_again();

    let published = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body("after-rotation", "1.0.0"))
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    let chain: serde_json::Value = registry
        .http()
        .get(format!("{}/api/wharf/v1/log/keyset", registry.url()))
        .send()?
        .json()?;
    let notes: Vec<&[u8]> = chain["keysets"]
        .as_array()
        .ok_or("a list of keysets")?
        .iter()
        .filter_map(|note| note.as_str().map(str::as_bytes))
        .collect();
    assert_eq!(notes.len(), 2);
    let keyset = wharf_trust::verify_keyset_chain(&old_root, &origin, &notes, UtcTime::now())?;
    assert_eq!(keyset.version(), 2);
    assert_eq!(keyset.key(KeyRole::Root), &new_root);
    let checkpoint = registry
        .http()
        .get(format!("{}/api/wharf/v1/log/checkpoint", registry.url()))
        .send()?
        .text()?;
    let opened = Checkpoint::open(checkpoint.as_bytes(), &keyset.note_key(KeyRole::Log))?;
    assert!(opened.size() >= 1);
    Ok(())
}

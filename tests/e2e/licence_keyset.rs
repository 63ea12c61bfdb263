//! Trust material without a restart, and licences checked against the keyset: an
//! entitlement key signed into the keyset while `wharf serve` runs is published from the next
//! request on, and `wharf install` with a pinned root key checks a licence against the
//! keyset's entitlement keys (walked from that root key), so a licence signed by a key the
//! keyset does not name is refused with one line, whatever keys the registry's answer lists.

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::tamper_proxy::{Rule, edit};
use wharf_e2e_tests::upload::publish_body_with_deps;
use wharf_e2e_tests::{
    TamperProxy, TestRegistry, TestResult, describe, http_client_builder, wharf_binary,
};

use crate::mirror_serve::MirrorServer;
use wharf_trust::{Licence, LicenceTerms, Note, PublicKey, SigningKey, UtcTime};

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn text(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// The keyset chain the server at `base` serves now: its notes, newest last.
fn served_chain(base: &str) -> TestResult<Vec<String>> {
    let body: serde_json::Value = http_client_builder()
        .build()?
        .get(format!("{base}/api/wharf/v1/log/keyset"))
        .send()?
        .json()?;
    Ok(body["keysets"]
        .as_array()
        .expect("a keyset list")
        .iter()
        .map(|note| note.as_str().expect("a note").to_owned())
        .collect())
}

/// `wharf install paid-plugin` through `index_url` into `dir`.
fn install(index_url: &str, dir: &Path, token: &str, extra: &[&str]) -> Output {
    Command::new(wharf_binary())
        .arg("install")
        .args(["--index-url", index_url, "--host-api", "1.0.0"])
        .args(["--token", token])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .arg("paid-plugin")
        .env_remove("WHARF_TOKEN")
        .output()
        .expect("the wharf binary runs")
}

#[test]
#[allow(clippy::too_many_lines)] // one registry: the live keyset, then each install
fn a_keyset_installed_while_serving_is_published_and_licences_are_checked_against_it() -> TestResult
{
    let registry = TestRegistry::start();
    let alice = registry.create_token("alice", &[]);
    for (name, version, deps) in [
        ("host-api", "1.0.0", &[][..]),
        ("paid-plugin", "1.0.0", &[("host-api", "^1")][..]),
    ] {
        let response = registry
            .http()
            .put(format!("{}/api/v1/crates/new", registry.url()))
            .header("Authorization", &alice)
            .body(publish_body_with_deps(name, version, deps))
            .send()?;
        assert_eq!(response.status().as_u16(), 200, "{}", response.text()?);
    }
    registry.settle();
    let files = tempfile::tempdir()?;
    let root = files.path().join("root.pub");
    std::fs::write(
        &root,
        ok(&registry.run_on_data(&["admin", "root-key", "export"], &[])),
    )?;
    let new_key = |name: &str| -> TestResult<(std::path::PathBuf, SigningKey)> {
        let path = files.path().join(name);
        ok(&Command::new(wharf_binary())
            .args(["keys", "new", "--out"])
            .arg(&path)
            .output()?);
        let key = SigningKey::from_key_file(&std::fs::read_to_string(&path)?, None)?;
        Ok((path, key))
    };

    // A mirror of the registry, served while it syncs.
    let mirror = files.path().join("mirror");
    let sync = || {
        ok(&Command::new(wharf_binary())
            .args(["mirror", "sync", "--from", &registry.index_url(), "--trust"])
            .arg(&root)
            .arg("--data")
            .arg(&mirror)
            .output()
            .expect("wharf runs"))
    };
    sync();
    let mirror_server = MirrorServer::start(&mirror);
    assert_eq!(served_chain(&mirror_server.url)?.len(), 1);

    // The server runs with keyset 1; `trust-key` signs keyset 2 naming the key into the
    // data directory, and the next request publishes it, without a restart.
    assert_eq!(served_chain(&registry.url())?.len(), 1);
    let (trusted_file, trusted) = new_key("entitlement.key")?;
    let said = registry.run_on_data(
        &["admin", "licence", "trust-key"],
        &["--key", text(&trusted_file)],
    );
    ok(&said);
    let stderr = String::from_utf8_lossy(&said.stderr);
    assert!(
        stderr.contains("the running `wharf serve` publishes it from its next request"),
        "{stderr}"
    );
    let chain = served_chain(&registry.url())?;
    assert_eq!(chain.len(), 2, "keyset 2 is served without a restart");
    let newest = Note::parse(chain[1].as_bytes())?;
    let keyset = wharf_trust::Keyset::parse(newest.text())?;
    assert_eq!(keyset.entitlement_keys(), &[trusted.public_key()]);
    // The mirror's next sync carries it; the running mirror server serves it from the next
    // request on.
    sync();
    assert_eq!(served_chain(&mirror_server.url)?, chain);
    drop(mirror_server);

    // From now on `paid-plugin` needs a licence.
    ok(&registry.run_on_data(&["admin", "premium", "set"], &["paid-plugin"]));

    // A licence by a key the keyset does not name, and a proxy that adds that key to the
    // registry's entitlement answer (a hostile network or mirror).
    let (_, stranger) = new_key("stranger.key")?;
    let now = UtcTime::now();
    let terms = |id: &str| LicenceTerms {
        id: id.to_owned(),
        licensee: "alice".to_owned(),
        packages: vec!["paid-*".to_owned()],
        versions: "*".to_owned(),
        not_before: now.plus_seconds(-60).to_string(),
        expires: now.plus_seconds(30 * 24 * 3600).to_string(),
        issued_at: now.to_string(),
    };
    let stranger_licence = files.path().join("stranger.lic");
    std::fs::write(
        &stranger_licence,
        Licence::issue(terms("lic-stranger"), &stranger)?.to_text(),
    )?;
    let valid_licence = files.path().join("valid.lic");
    std::fs::write(
        &valid_licence,
        Licence::issue(terms("lic-valid"), &trusted)?.to_text(),
    )?;
    let proxy = TamperProxy::start(&registry.url());
    let stranger_key: PublicKey = stranger.public_key();
    proxy.add(Rule::exact(
        "/api/wharf/v1/entitlements",
        edit(move |body| {
            let mut info: serde_json::Value = serde_json::from_slice(body).expect("JSON");
            info["keys"]
                .as_array_mut()
                .expect("a key list")
                .push(stranger_key.to_string().into());
            serde_json::to_vec(&info).expect("JSON")
        }),
    ));
    let pinned = ["--root-key", text(&root)];

    // Pinned: refused offline, before any download, with one line naming the key.
    let dir = files.path().join("refused");
    let refused = install(
        &proxy.index_url(),
        &dir,
        &alice,
        &[&pinned[..], &["--licence", text(&stranger_licence)]].concat(),
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    let refusal: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("licence signature invalid"))
        .collect();
    assert_eq!(refusal.len(), 1, "{stderr}");
    assert!(
        refusal[0].contains(&format!(
            "signed by key {}, which keyset version 2 (verified from the pinned root key) does not name as an entitlement key",
            stranger.key_id().short()
        )),
        "{stderr}"
    );
    assert!(!dir.join("current").exists(), "nothing was installed");

    // Pinned, with a licence by the key the keyset names: installed.
    let dir = files.path().join("valid");
    let installed = install(
        &proxy.index_url(),
        &dir,
        &alice,
        &[&pinned[..], &["--licence", text(&valid_licence)]].concat(),
    );
    ok(&installed);
    assert!(dir.join("current").exists());

    // Without a pinned root key the installer can only take the answer's word for the
    // keys; the registry's own check on download still refuses the stranger's licence.
    let dir = files.path().join("unpinned");
    let unpinned = install(
        &proxy.index_url(),
        &dir,
        &alice,
        &["--licence", text(&stranger_licence)],
    );
    let stderr = String::from_utf8_lossy(&unpinned.stderr);
    assert!(!unpinned.status.success(), "{stderr}");
    assert!(stderr.contains("licence signature invalid"), "{stderr}");
    assert!(!dir.join("current").exists(), "nothing was installed");
    Ok(())
}

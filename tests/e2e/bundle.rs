//! `wharf bundle`: a registry exported into one signed file, carried to a machine without
//! the registry, unpacked for offline cargo builds or imported as a served copy; tampered
//! and older bundles refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use wharf_e2e_tests::verify_setup::publish;
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, describe, wharf_binary};

/// The exporter's key file and the registry's root key, in `dir`.
pub(crate) fn keys(registry: &TestRegistry, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let key = dir.join("exporter.key");
    let made = Command::new(wharf_binary())
        .args(["keys", "new", "--out"])
        .arg(&key)
        .output()
        .expect("wharf runs");
    assert!(made.status.success(), "{}", describe(&made));
    let public = String::from_utf8_lossy(&made.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("public key: "))
        .expect("a public key line")
        .to_owned();
    let exporter_pub = dir.join("exporter.pub");
    std::fs::write(&exporter_pub, public).expect("written");
    let exported = registry.run_on_data(&["admin", "root-key", "export"], &[]);
    assert!(exported.status.success(), "{}", describe(&exported));
    let root = dir.join("root.pub");
    std::fs::write(&root, &exported.stdout).expect("written");
    (key, exporter_pub, root)
}

pub(crate) fn export(
    registry: &TestRegistry,
    key: &Path,
    root: &Path,
    out: &Path,
    choice: &[&str],
) -> Output {
    let output = Command::new(wharf_binary())
        .args(["bundle", "export"])
        .args(choice)
        .arg("--from")
        .arg(registry.index_url())
        .arg("--key")
        .arg(key)
        .arg("--root-key")
        .arg(root)
        .arg("--out")
        .arg(out)
        .output()
        .expect("wharf runs");
    assert!(output.status.success(), "{}", describe(&output));
    output
}

pub(crate) fn wharf(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(wharf_binary())
        .args(args)
        .args(paths)
        .output()
        .expect("wharf runs")
}

pub(crate) fn unpack(bundle: &Path, trust: &Path, root: &Path, out: &Path) -> Output {
    wharf(
        &["bundle", "unpack", "--format", "local-registry"],
        &[
            bundle,
            Path::new("--trust"),
            trust,
            Path::new("--root-key"),
            root,
            Path::new("--out"),
            out,
        ],
    )
}

/// The `.crate` files an unpacked bundle holds.
pub(crate) fn crate_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("unpacked")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "crate"))
        .map(|path| {
            path.file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

pub(crate) fn import(
    bundle: &Path,
    data: &Path,
    trust: &Path,
    root: &Path,
    extra: &[&str],
) -> Output {
    Command::new(wharf_binary())
        .args(["bundle", "import"])
        .arg(bundle)
        .arg("--data")
        .arg(data)
        .arg("--trust")
        .arg(trust)
        .arg("--root-key")
        .arg(root)
        .args(extra)
        .output()
        .expect("wharf runs")
}

/// Every file under `dir` (following `current`), path → bytes.
pub(crate) fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let name = path.strip_prefix(base).expect("under base");
                out.insert(
                    name.display().to_string(),
                    std::fs::read(&path).expect("readable"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub(crate) fn members(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(bundle).expect("the bundle");
    let mut archive = tar::Archive::new(zstd::Decoder::new(file).expect("zstd"));
    archive
        .entries()
        .expect("tar")
        .map(|entry| {
            let mut entry = entry.expect("an entry");
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).expect("readable");
            (path, body)
        })
        .collect()
}

/// A copy of `bundle` with the first member whose path starts with `prefix` rewritten.
pub(crate) fn tampered(
    bundle: &Path,
    out: &Path,
    prefix: &str,
    edit: impl Fn(&mut Vec<u8>),
) -> PathBuf {
    let mut edited = false;
    let mut builder = tar::Builder::new(
        zstd::Encoder::new(std::fs::File::create(out).expect("created"), 3).expect("zstd"),
    );
    for (path, mut body) in members(bundle) {
        if !edited && path.starts_with(prefix) {
            edit(&mut body);
            edited = true;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, &path, body.as_slice())
            .expect("appended");
    }
    assert!(edited, "no member starts with {prefix}");
    builder.into_inner().expect("tar").finish().expect("zstd");
    out.to_owned()
}

/// A copy of `bundle` with member `path` rewritten and the MANIFEST updated and signed again
/// with the exporter's key: what a dishonest or compromised exporter could make.
pub(crate) fn resigned(
    bundle: &Path,
    out: &Path,
    key: &Path,
    path: &str,
    edit: impl Fn(&mut Vec<u8>),
) {
    let signer = wharf_trust::SigningKey::from_key_file(
        &std::fs::read_to_string(key).expect("the key file"),
        None,
    )
    .expect("an unencrypted key");
    let mut all = members(bundle);
    let (old_hash, old_size, new_hash, new_size) = {
        let (_, body) = all.iter_mut().find(|(p, _)| p == path).expect("the member");
        let old = (hex::encode(Sha256::digest(&*body)), body.len());
        edit(body);
        (
            old.0,
            old.1,
            hex::encode(Sha256::digest(&*body)),
            body.len(),
        )
    };
    let manifest = {
        let (_, text) = all
            .iter()
            .find(|(p, _)| p == "MANIFEST")
            .expect("a MANIFEST");
        String::from_utf8_lossy(text).replace(
            &format!("member {old_hash} {old_size} {path}\n"),
            &format!("member {new_hash} {new_size} {path}\n"),
        )
    };
    let signature = wharf_trust::bundle::sign_manifest(&signer, manifest.as_bytes()).to_base64();
    let mut builder = tar::Builder::new(
        zstd::Encoder::new(std::fs::File::create(out).expect("created"), 3).expect("zstd"),
    );
    for (member, body) in all {
        let body = match member.as_str() {
            "MANIFEST" => manifest.clone().into_bytes(),
            "MANIFEST.sig" => signature.clone().into_bytes(),
            _ => body,
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, &member, body.as_slice())
            .expect("appended");
    }
    builder.into_inner().expect("tar").finish().expect("zstd");
}

#[test]
fn an_exported_bundle_builds_offline_with_cargo_after_the_registry_is_gone() -> TestResult {
    let mut registry = TestRegistry::start();
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();
    let publish_args = ["publish", "--registry", "wharf", "--no-verify"];
    let base = CrateProject::new("air-base", "1.0.0")
        .lib("pub fn base() -> u32 { 40 }")
        .write(&work);
    cargo.cargo_ok(&base, &publish_args);
    let top = CrateProject::new("air-top", "0.1.0")
        .dep("air-base", r#"{ version = "1", registry = "wharf" }"#)
        .lib("pub fn top() -> u32 { air_base::base() + 2 }")
        .write(&work);
    cargo.cargo_ok(&top, &publish_args);

    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&registry, dir.path());
    let bundle = dir.path().join("registry.wharf-bundle");
    let exported = export(&registry, &key, &root, &bundle, &["--all"]);
    let said = String::from_utf8_lossy(&exported.stdout);
    assert!(
        said.starts_with("exported 2 packages, 2 versions (2 blobs)"),
        "{said}"
    );
    let index_url = registry.index_url();
    registry.stop();

    let offline = dir.path().join("offline");
    let unpacked = unpack(&bundle, &exporter_pub, &root, &offline);
    assert!(unpacked.status.success(), "{}", describe(&unpacked));
    assert!(offline.join("air-base-1.0.0.crate").is_file());
    assert!(offline.join("index/ai/r-/air-top").is_file());

    let consumer_env = CargoEnv::new(&index_url);
    let config = consumer_env.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config)?;
    let _ = write!(
        text,
        "\n[source.wharf-remote]\nregistry = \"{index_url}\"\nreplace-with = \"wharf-offline\"\n\n[source.wharf-offline]\nlocal-registry = \"{}\"\n",
        offline.display()
    );
    std::fs::write(&config, text)?;
    let consumer = CrateProject::new("air-consumer", "0.1.0")
        .dep("air-top", r#"{ version = "0.1", registry = "wharf" }"#)
        .main("fn main() { println!(\"value={}\", air_top::top()); }")
        .write(consumer_env.work_dir());
    let run = consumer_env.cargo_ok(&consumer, &["run", "--offline", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=42");
    Ok(())
}

#[test]
fn import_serves_the_registry_byte_for_byte_and_refuses_tampered_and_older_bundles() -> TestResult {
    let registry = TestRegistry::start();
    publish(&registry, "aa", "1.0.0");
    publish(&registry, "bbb", "1.0.0");
    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&registry, dir.path());
    let older = dir.path().join("older.bundle");
    export(&registry, &key, &root, &older, &["--all"]);
    publish(&registry, "aa", "1.1.0");
    let newer = dir.path().join("newer.bundle");
    export(&registry, &key, &root, &newer, &["--all"]);

    // Imported into a fresh directory: the upstream's config, index files and blobs.
    let data = dir.path().join("served");
    let imported = import(&newer, &data, &exporter_pub, &root, &[]);
    assert!(imported.status.success(), "{}", describe(&imported));
    let served = tree(&data.join("current"));
    let upstream = |path: &str| -> Vec<u8> {
        registry
            .http()
            .get(format!("{}/{path}", registry.url()))
            .send()
            .expect("an answer")
            .bytes()
            .expect("a body")
            .to_vec()
    };
    for path in ["index/config.json", "index/2/aa", "index/3/b/bbb"] {
        assert_eq!(served.get(path), Some(&upstream(path)), "{path}");
    }
    let blobs: Vec<&String> = served.keys().filter(|p| p.starts_with("blobs/")).collect();
    assert_eq!(blobs.len(), 3, "{blobs:?}");
    for path in blobs {
        assert_eq!(served.get(path), Some(&upstream(path)), "{path}");
    }

    // Tampered bundles: each refused with one line naming the member, nothing changed.
    let before = tree(&data);
    let flip = |body: &mut Vec<u8>| body[0] ^= 1;
    let cases = [
        ("blobs/sha256/", "member `blobs/sha256/"),
        ("http/index/2/aa", "member `http/index/2/aa`"),
        ("MANIFEST.sig", "member `MANIFEST.sig`"),
    ];
    for (index, (prefix, needle)) in cases.into_iter().enumerate() {
        let bad = tampered(
            &newer,
            &dir.path().join(format!("bad-{index}")),
            prefix,
            flip,
        );
        let refused = import(&bad, &data, &exporter_pub, &root, &[]);
        assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert_eq!(tree(&data), before, "{prefix}");
    }

    // A changed index line under a MANIFEST signed again by the exporter: the log refuses it.
    let forged = dir.path().join("forged.bundle");
    resigned(&newer, &forged, &key, "http/index/2/aa", |body| {
        let text = String::from_utf8_lossy(body).replacen(
            r#""features":{}"#,
            r#""features":{"evil":[]}"#,
            1,
        );
        *body = text.into_bytes();
    });
    let refused = import(&forged, &data, &exporter_pub, &root, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("registry material does not verify"),
        "{stderr}"
    );
    assert_eq!(tree(&data), before);

    // The older bundle after the newer one: a rollback, refused unless overridden.
    let refused = import(&older, &data, &exporter_pub, &root, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--allow-rollback"), "{stderr}");
    assert_eq!(tree(&data), before);
    let overridden = import(&older, &data, &exporter_pub, &root, &["--allow-rollback"]);
    assert!(overridden.status.success(), "{}", describe(&overridden));
    let said = String::from_utf8_lossy(&overridden.stdout);
    assert!(said.starts_with("override: "), "{said}");
    assert!(!data.join("current/blobs/sha256").join("x").exists());
    assert_eq!(
        std::fs::read_dir(&data)?.count(),
        3,
        "`current`, one copy and the state file"
    );
    Ok(())
}

pub(crate) fn publish_with_deps(
    registry: &TestRegistry,
    name: &str,
    version: &str,
    deps: &[(&str, &str)],
) {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(wharf_test_support::publish_body_with_deps(
            name, version, deps,
        ))
        .send()
        .expect("an answer");
    assert_eq!(response.status(), 200, "publish {name} {version}");
}

#[test]
fn roots_lockfiles_and_since_choose_what_a_bundle_carries() -> TestResult {
    let registry = TestRegistry::start();
    publish(&registry, "aa", "1.0.0");
    publish(&registry, "aa", "2.0.0");
    publish_with_deps(&registry, "bbb", "1.0.0", &[("aa", "^1")]);
    publish(&registry, "ccc", "1.0.0");
    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&registry, dir.path());

    // --roots: the root's matching versions and its dependencies' matching versions only.
    let rooted = dir.path().join("rooted.bundle");
    export(&registry, &key, &root, &rooted, &["--roots", "bbb@^1"]);
    let out = dir.path().join("rooted");
    let unpacked = unpack(&rooted, &exporter_pub, &root, &out);
    assert!(unpacked.status.success(), "{}", describe(&unpacked));
    assert_eq!(crate_files(&out), ["aa-1.0.0.crate", "bbb-1.0.0.crate"]);
    let aa_lines = std::fs::read_to_string(out.join("index/2/aa"))?;
    assert_eq!(aa_lines.lines().count(), 1, "{aa_lines}");
    assert!(aa_lines.contains(r#""vers":"1.0.0""#), "{aa_lines}");

    // --lockfile: exactly the locked registry versions.
    let lockfile = dir.path().join("Cargo.lock");
    std::fs::write(
        &lockfile,
        format!(
            "version = 4\n\n[[package]]\nname = \"aa\"\nversion = \"2.0.0\"\nsource = \"{}\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n",
            registry.index_url()
        ),
    )?;
    let locked = dir.path().join("locked.bundle");
    export(
        &registry,
        &key,
        &root,
        &locked,
        &["--lockfile", lockfile.to_str().expect("UTF-8")],
    );
    let out = dir.path().join("locked");
    let unpacked = unpack(&locked, &exporter_pub, &root, &out);
    assert!(unpacked.status.success(), "{}", describe(&unpacked));
    assert_eq!(crate_files(&out), ["aa-2.0.0.crate"]);

    // --since: only the new blob; import requires the earlier bundle first.
    let full = dir.path().join("full.bundle");
    export(&registry, &key, &root, &full, &["--all"]);
    publish(&registry, "ccc", "1.1.0");
    let delta = dir.path().join("delta.bundle");
    let said = export(
        &registry,
        &key,
        &root,
        &delta,
        &["--all", "--since", full.to_str().expect("UTF-8")],
    );
    let said = String::from_utf8_lossy(&said.stdout);
    assert!(
        said.starts_with("exported 3 packages, 5 versions (1 blobs)"),
        "{said}"
    );
    let data = dir.path().join("served");
    let refused = import(&delta, &data, &exporter_pub, &root, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("import it first"),
        "{}",
        describe(&refused)
    );
    assert!(!data.join("current").exists());
    for bundle in [&full, &delta] {
        let imported = import(bundle, &data, &exporter_pub, &root, &[]);
        assert!(imported.status.success(), "{}", describe(&imported));
    }
    let blobs = std::fs::read_dir(data.join("current/blobs/sha256"))?.count();
    assert_eq!(blobs, 5);
    Ok(())
}

//! Workspaces and path dependencies read from disk: members, globs and `exclude`,
//! `workspace = true` inheritance, path packages in the lock, git dependencies refused by
//! name; and the Cargo.lock of a real workspace fixture compared with cargo's own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_resolver::{
    LocalIndex, MemoryIndex, ResolveError, ResolveOptions, Resolver, Workspace, resolve_workspace,
};

use crate::differential::real_index;
use crate::support::{index, pkg};

/// The source id cargo writes for crates.io (which the fixture's local registry replaces).
const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/resolver/workspaces")
        .join(case)
}

/// Copies a directory tree (the fixture, so cargo's Cargo.lock lands in a scratch copy).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// What `cargo generate-lockfile --offline` writes for the workspace in `dir`, reading the
/// fixture index as a local registry that replaces crates.io.
fn cargo_lock_of(dir: &Path, scratch: &Path) -> String {
    let registry = scratch.join("registry");
    let home = scratch.join("cargo-home");
    fs::create_dir_all(&registry).unwrap();
    copy_tree(real_index(), &registry.join("index"));
    write(
        &home.join("config.toml"),
        &format!(
            "[source.crates-io]\nreplace-with = \"fixture\"\n[source.fixture]\nlocal-registry = {:?}\n",
            registry.display().to_string()
        ),
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["generate-lockfile", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_HOME", &home)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo generate-lockfile failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    fs::read_to_string(dir.join("Cargo.lock")).unwrap()
}

#[test]
fn a_workspace_locks_exactly_as_cargo_does() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("ws");
    copy_tree(&fixture("members-and-paths"), &dir);

    let workspace = Workspace::load(&dir).unwrap();
    let members: Vec<&str> = workspace
        .members()
        .map(|m| m.manifest.name.as_str())
        .collect();
    assert_eq!(
        members,
        ["app", "core-lib"],
        "globbed members, `vendor` excluded"
    );
    let helper = workspace
        .packages
        .iter()
        .find(|p| p.manifest.name == "helper")
        .expect("the excluded path dependency is still read");
    assert!(!helper.member);

    let index = LocalIndex::open(real_index()).unwrap();
    let resolution = resolve_workspace(&index, &workspace, &ResolveOptions::default()).unwrap();
    let ours = resolution.to_workspace_cargo_lock(&workspace, CRATES_IO);
    // The non-member's dev-dependency (`regex`) is not resolved; members' ones are.
    assert!(resolution.versions_of("regex").is_empty());
    assert_eq!(resolution.versions_of("tempfile").len(), 1);

    let cargo = cargo_lock_of(&dir, scratch.path());
    assert_eq!(ours, cargo);
}

/// Members that dev-depend on each other (allowed: only normal and build cycles are not),
/// optional and renamed dependencies, target-specific and build dependencies, resolver 3
/// with the members' `rust-version`.
#[test]
fn dev_cycles_features_and_targets_lock_as_cargo_does() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("ws");
    copy_tree(&fixture("dev-cycle-features-targets"), &dir);
    let workspace = Workspace::load(&dir.join("macros")).unwrap();
    let index = LocalIndex::open(real_index()).unwrap();
    let resolution = Resolver::new(&index)
        .rust_version_as_cargo()
        .resolve_workspace(&workspace)
        .unwrap();
    let ours = resolution.to_workspace_cargo_lock(&workspace, CRATES_IO);
    let cargo = cargo_lock_of(&dir, scratch.path());
    assert_eq!(ours, cargo);
}

#[test]
fn a_member_manifest_resolves_its_whole_workspace() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("ws");
    copy_tree(&fixture("members-and-paths"), &dir);
    let from_member = Workspace::load(&dir.join("crates/core/Cargo.toml")).unwrap();
    let from_root = Workspace::load(&dir.join("Cargo.toml")).unwrap();
    assert_eq!(from_member, from_root);
}

#[test]
fn git_dependencies_are_refused_by_name() {
    let scratch = tempfile::tempdir().unwrap();
    write(
        &scratch.path().join("Cargo.toml"),
        "[package]\nname = \"bar\"\nversion = \"0.1.0\"\n[dependencies]\nfoo = { git = \"https://example.com/foo.git\" }\n",
    );
    let error = Workspace::load(scratch.path()).unwrap_err();
    assert!(matches!(error, ResolveError::GitDependency { .. }));
    assert_eq!(
        error.to_string(),
        "dependency `foo` of `bar` is a git dependency (https://example.com/foo.git); Wharf's resolver reads registry and path dependencies only"
    );
}

/// `[patch]` and `[replace]` at the root change what cargo picks; the resolver does not apply
/// them, so it refuses the manifest by name instead of answering differently. A member's
/// `[patch]` (which cargo ignores) is not refused.
#[test]
fn patch_and_replace_sections_are_refused_by_name() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("Cargo.toml");
    write(
        &root,
        "[workspace]\nmembers = [\"app\"]\n[patch.crates-io]\nfoo = { path = \"vendor/foo\" }\n",
    );
    write(
        &scratch.path().join("app/Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[patch.crates-io]\nbar = { path = \"../bar\" }\n",
    );
    let error = Workspace::load(&scratch.path().join("app")).unwrap_err();
    assert!(matches!(error, ResolveError::UnsupportedSection { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` has a `[patch.crates-io]` section, which Wharf's resolver does not apply (cargo would replace registry packages with it); remove the section to resolve against the index alone, or use cargo for this manifest",
            scratch
                .path()
                .canonicalize()
                .unwrap()
                .join("Cargo.toml")
                .display()
        )
    );
    write(&root, "[workspace]\nmembers = [\"app\"]\n");
    Workspace::load(scratch.path()).expect("a member's [patch] is ignored, as cargo does");

    let single = scratch.path().join("single/Cargo.toml");
    write(
        &single,
        "[package]\nname = \"single\"\nversion = \"0.1.0\"\n[replace]\n\"foo:1.0.0\" = { path = \"foo\" }\n",
    );
    let error = wharf_resolver::RootManifest::from_path(&single).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("`{}` has a `[replace]` section", single.display())),
        "{error}"
    );
}

#[test]
fn a_path_dependency_of_another_version_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    write(
        &scratch.path().join("app/Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\nutil = { path = \"../util\", version = \"2\" }\n",
    );
    write(
        &scratch.path().join("util/Cargo.toml"),
        "[package]\nname = \"util\"\nversion = \"1.4.0\"\n",
    );
    let error = Workspace::load(&scratch.path().join("app")).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("`util` of `app`") && text.contains("`2`") && text.contains("1.4.0"),
        "{text}"
    );
}

#[test]
fn a_missing_path_or_workspace_entry_is_named() {
    let scratch = tempfile::tempdir().unwrap();
    write(
        &scratch.path().join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\nutil = { path = \"gone\" }\n",
    );
    let text = Workspace::load(scratch.path()).unwrap_err().to_string();
    assert!(
        text.contains("`util` of `app`") && text.contains("no `Cargo.toml`"),
        "{text}"
    );

    write(
        &scratch.path().join("Cargo.toml"),
        "[workspace]\n[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\nserde.workspace = true\n",
    );
    let text = Workspace::load(scratch.path()).unwrap_err().to_string();
    assert!(
        text.contains("`serde`") && text.contains("[workspace.dependencies]"),
        "{text}"
    );
}

#[test]
fn path_packages_shadow_the_registry_and_carry_their_directory() {
    let scratch = tempfile::tempdir().unwrap();
    write(
        &scratch.path().join("ws/Cargo.toml"),
        "[workspace]\nmembers = [\"app\"]\n",
    );
    write(
        &scratch.path().join("ws/app/Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\nlog = { path = \"../../log\" }\nserde = \"1\"\n",
    );
    write(
        &scratch.path().join("log/Cargo.toml"),
        "[package]\nname = \"log\"\nversion = \"0.0.1\"\nlinks = \"z\"\n",
    );
    let registry: MemoryIndex = index([pkg("log", "0.4.22"), pkg("serde", "1.0.200")]);
    let workspace = Workspace::load(&scratch.path().join("ws")).unwrap();
    let resolution = Resolver::new(&registry)
        .resolve_workspace(&workspace)
        .unwrap();
    let log = resolution
        .packages
        .iter()
        .find(|p| p.name == "log")
        .unwrap();
    assert_eq!(log.version.to_string(), "0.0.1");
    assert_eq!(
        log.path.as_deref(),
        Some(&*fs::canonicalize(scratch.path().join("log")).unwrap())
    );
    assert!(log.checksum.is_none());
    let members: Vec<String> = resolution
        .root_dependencies
        .iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    assert_eq!(members, ["app 0.1.0"]);
}

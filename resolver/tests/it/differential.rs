//! Differential tests against cargo itself.
//!
//! Every case under `fixtures/resolver/cases` was locked by cargo 1.95 (`cargo generate-lockfile`
//! with a fresh `CARGO_HOME` and a `local-registry` replacing crates-io) reading exactly the
//! packed index `fixtures/resolver/index.tar.gz`, which holds real published index lines.
//! Wharf's cargo mode must select the same `(name, version)` set, root excluded, and must fail
//! exactly where cargo fails. `scripts/resolver-fixtures/make.py` regenerates the data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use wharf_index_format::{IndexFile, index_path};
use wharf_resolver::{LocalIndex, ResolveOptions, RootManifest, resolve};

/// `(name, version)` as cargo writes them in `Cargo.lock`.
type Pick = (String, String);

/// Cargo's answer for one case (`expected.json`).
#[derive(Debug, Deserialize)]
struct Expected {
    solvable: bool,
    #[serde(default)]
    packages: Vec<Pick>,
    #[serde(default)]
    cargo_error: String,
}

/// Name prefix of the unpacked copies under the target's temporary directory.
const REAL_INDEX_PREFIX: &str = "resolver-real-index-";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/resolver")
}

fn case_dir(case: &str) -> PathBuf {
    fixture_dir().join("cases").join(case)
}

fn expected(case: &str) -> Expected {
    let path = case_dir(case).join("expected.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading `{}`: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing `{}`: {e}", path.display()))
}

/// The packed index, unpacked once per test process under the target's temporary directory.
/// The directory name carries a hash of the archive, so a changed archive is unpacked afresh, and
/// concurrent test processes each unpack into a staging directory and rename it into place.
pub(crate) fn real_index() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(unpack_real_index)
}

fn unpack_real_index() -> PathBuf {
    let archive_path = fixture_dir().join("index.tar.gz");
    let archive = fs::read(&archive_path)
        .unwrap_or_else(|e| panic!("reading `{}`: {e}", archive_path.display()));
    let mut hasher = DefaultHasher::new();
    hasher.write(&archive);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.join(format!("{REAL_INDEX_PREFIX}{:016x}", hasher.finish()));
    if target.is_dir() {
        return target;
    }
    let staging = tempfile::tempdir_in(tmp).expect("creating a staging directory");
    tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()))
        .unpack(staging.path())
        .unwrap_or_else(|e| panic!("unpacking `{}`: {e}", archive_path.display()));
    // Losing the race to another process is fine: its copy is complete, and ours is dropped.
    let _ = fs::rename(staging.path(), &target);
    assert!(target.is_dir(), "`{}` was not created", target.display());
    remove_stale_copies(tmp, &target);
    target
}

/// Copies unpacked from earlier versions of the archive are no longer needed.
fn remove_stale_copies(tmp: &Path, current: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = path != current
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(REAL_INDEX_PREFIX);
        if stale {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Every index file of the unpacked tree, with its path relative to the tree root.
fn index_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("reading the unpacked index") {
            let path = entry.expect("reading a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .expect("walked paths lie under the root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((relative, path));
            }
        }
    }
    out.sort();
    out
}

/// Readable description of how two selections differ, grouped by package name.
fn describe_difference(cargo: &BTreeSet<Pick>, wharf: &BTreeSet<Pick>) -> String {
    let mut by_name: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for (name, version) in cargo.difference(wharf) {
        by_name.entry(name).or_default().0.push(version);
    }
    for (name, version) in wharf.difference(cargo) {
        by_name.entry(name).or_default().1.push(version);
    }
    let mut out = String::new();
    for (name, (only_cargo, only_wharf)) in by_name {
        let side = |versions: &[&str]| {
            if versions.is_empty() {
                "-".to_owned()
            } else {
                versions.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "  {name}: cargo {} | wharf {}",
            side(&only_cargo),
            side(&only_wharf)
        );
    }
    out
}

fn check_case(case: &str) {
    let expected = expected(case);
    let manifest_path = case_dir(case).join("Cargo.toml");
    let root = RootManifest::from_path(&manifest_path)
        .unwrap_or_else(|e| panic!("case `{case}`: reading the manifest: {e}"));
    let index = LocalIndex::open(real_index()).expect("the real index opens");
    let outcome = resolve(&index, &root, &ResolveOptions::default());
    let cargo: BTreeSet<Pick> = expected.packages.iter().cloned().collect();
    match (expected.solvable, outcome) {
        (true, Ok(resolution)) => {
            let wharf: BTreeSet<Pick> = resolution
                .packages
                .iter()
                .map(|p| (p.name.clone(), p.version.to_string()))
                .collect();
            assert!(
                wharf == cargo,
                "case `{case}`: Wharf selects {} packages, cargo {}; differing packages:\n{}",
                wharf.len(),
                cargo.len(),
                describe_difference(&cargo, &wharf)
            );
        }
        (true, Err(error)) => {
            panic!(
                "case `{case}`: cargo locks {} packages but Wharf fails:\n{error}",
                cargo.len()
            )
        }
        (false, Ok(resolution)) => {
            let picks: Vec<String> = resolution
                .packages
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            panic!(
                "case `{case}`: cargo cannot solve it but Wharf selects {} packages ({}).\ncargo said:\n{}",
                picks.len(),
                picks.join(", "),
                expected.cargo_error
            );
        }
        // Both sides fail; the messages are free to differ.
        (false, Err(_)) => {}
    }
}

macro_rules! differential_cases {
    ($($test:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_case($case);
            }
        )*

        /// Every case directory that has a test above.
        const CASES: &[&str] = &[$($case),*];
    };
}

differential_cases! {
    actix_diesel => "actix-diesel",
    async_runtimes => "async-runtimes",
    backtrack_old_tokio => "backtrack-old-tokio",
    build_dev_target_deps => "build-dev-target-deps",
    cli_tool => "cli-tool",
    conflicting_pins_unsolvable => "conflicting-pins-unsolvable",
    crypto_tls => "crypto-tls",
    data_processing => "data-processing",
    kinds_different_majors => "kinds-different-majors",
    grpc_service => "grpc-service",
    links_backtrack => "links-backtrack",
    links_choose_downgrade => "links-choose-downgrade",
    links_conflict_unsolvable => "links-conflict-unsolvable",
    links_wide_range => "links-wide-range",
    links_via_deps_unsolvable => "links-via-deps-unsolvable",
    missing_feature_unsolvable => "missing-feature-unsolvable",
    missing_package_unsolvable => "missing-package-unsolvable",
    missing_version_unsolvable => "missing-version-unsolvable",
    msrv_2024_old_toolchain => "msrv-2024-old-toolchain",
    msrv_ancient_toolchain => "msrv-ancient-toolchain",
    msrv_fallback => "msrv-fallback",
    msrv_fallback_deep => "msrv-fallback-deep",
    msrv_ignored_resolver2 => "msrv-ignored-resolver2",
    old_serde_pin => "old-serde-pin",
    popular_88 => "popular-88",
    optional_features => "optional-features",
    prerelease_only_unsolvable => "prerelease-only-unsolvable",
    prerelease_opt_in => "prerelease-opt-in",
    renamed_deps => "renamed-deps",
    same_dep_two_names => "same-dep-two-names",
    syn_pin_backtrack => "syn-pin-backtrack",
    tilde_exact_wildcard => "tilde-exact-wildcard",
    too_old_tokio_unsolvable => "too-old-tokio-unsolvable",
    two_majors_rand => "two-majors-rand",
    two_majors_syn => "two-majors-syn",
    wasm_frontend => "wasm-frontend",
    wasm_bindgen_pin_backtrack => "wasm-bindgen-pin-backtrack",
    web_axum_service => "web-axum-service",
    weak_feature_transitive => "weak-feature-transitive",
    wide_requirements => "wide-requirements",
    wide_spanning_majors => "wide-spanning-majors",
    wrong_case_unsolvable => "wrong-case-unsolvable",
    wrong_separator_unsolvable => "wrong-separator-unsolvable",
    yanked_pin_unsolvable => "yanked-pin-unsolvable",
    yanked_skipped => "yanked-skipped",
}

#[test]
fn every_case_directory_has_a_test() {
    let mut on_disk: Vec<String> = fs::read_dir(fixture_dir().join("cases"))
        .expect("reading the case directory")
        .map(|entry| entry.expect("reading a case entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| {
            path.file_name()
                .expect("case directories have names")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<&str> = CASES.to_vec();
    listed.sort_unstable();
    assert_eq!(
        on_disk, listed,
        "cases on disk and cases with a test differ"
    );
}

#[test]
fn real_index_parses_cleanly_and_sits_at_cargo_paths() {
    let files = index_files(real_index());
    assert!(!files.is_empty(), "the unpacked index holds no files");
    for (relative, path) in files {
        let text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading `{relative}`: {e}"));
        let (file, errors) = IndexFile::parse_lenient(&text);
        assert!(
            errors.is_empty(),
            "`{relative}` has unreadable lines: {errors:?}"
        );
        assert!(!file.entries.is_empty(), "`{relative}` holds no versions");
        for entry in &file.entries {
            assert_eq!(
                index_path(&entry.name),
                relative,
                "`{} {}` is stored at the wrong path",
                entry.name,
                entry.vers
            );
        }
    }
}

#[test]
fn cargo_picks_are_published_unyanked_versions_of_the_index() {
    let index = real_index();
    let mut files: BTreeMap<String, IndexFile> = BTreeMap::new();
    for case in CASES {
        let expected = expected(case);
        assert_eq!(
            expected.solvable,
            expected.cargo_error.is_empty(),
            "case `{case}`: an unsolvable case needs cargo's message, a solvable one none"
        );
        for (name, version) in &expected.packages {
            let file = files.entry(name.clone()).or_insert_with(|| {
                let path = index.join(index_path(name));
                let text = fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("case `{case}`: `{name}` is not in the index: {e}"));
                IndexFile::parse_lenient(&text).0
            });
            let entry = file
                .entries
                .iter()
                .find(|entry| entry.name == *name && entry.vers.to_string() == *version)
                .unwrap_or_else(|| panic!("case `{case}`: `{name} {version}` is not in the index"));
            assert!(
                !entry.yanked,
                "case `{case}`: cargo picked yanked `{name} {version}`"
            );
        }
    }
}

#[test]
fn mismatch_report_lists_each_differing_package_once_with_both_sides() {
    let pick = |name: &str, version: &str| (name.to_owned(), version.to_owned());
    let cargo = BTreeSet::from([
        pick("serde", "1.0.228"),
        pick("syn", "2.0.100"),
        pick("libc", "0.2.170"),
    ]);
    let wharf = BTreeSet::from([
        pick("serde", "1.0.228"),
        pick("syn", "2.0.99"),
        pick("rand", "0.8.5"),
    ]);
    let report = describe_difference(&cargo, &wharf);
    assert_eq!(
        report,
        "  libc: cargo 0.2.170 | wharf -\n  rand: cargo - | wharf 0.8.5\n  syn: cargo 2.0.100 | wharf 2.0.99\n"
    );
}

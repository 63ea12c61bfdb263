//! Index sources: the cargo-layout directory tree and its agreement with memory.

use std::fs;
use std::path::Path;

use wharf_index_format::index_path;
use wharf_resolver::{IndexSource, LocalIndex, MemoryIndex, ResolveOptions, resolve};

use crate::support::{dep, index, manifest, picks, pkg};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(index_path(name));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn local_index_skips_bad_lines_newer_schemas_and_other_names() {
    let dir = tempfile::tempdir().unwrap();
    let good = pkg("Demo", "1.0.0").entry().to_line();
    let newer = pkg("Demo", "1.1.0").schema(3).entry().to_line();
    let other_case = pkg("demo", "9.0.0").entry().to_line();
    write(
        dir.path(),
        "Demo",
        &format!("{good}\nnot json\n{newer}\n{other_case}\n"),
    );
    let local = LocalIndex::open(dir.path()).unwrap();
    let versions = local.versions("Demo").unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].vers.to_string(), "1.0.0");
    assert!(local.versions("absent").unwrap().is_empty());
    assert_eq!(local.similar_names("demo"), ["Demo"]);
}

#[test]
fn resolution_reads_only_the_packages_it_touches() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app-dep",
        &pkg("app-dep", "1.0.0")
            .with(dep("leaf", "1"))
            .entry()
            .to_line(),
    );
    write(dir.path(), "leaf", &pkg("leaf", "1.0.0").entry().to_line());
    // An unreadable entry (a directory where a file should be) for a package nobody asks for.
    fs::create_dir_all(dir.path().join(index_path("untouched"))).unwrap();
    let local = LocalIndex::open(dir.path()).unwrap();
    let root = manifest("[dependencies]\napp-dep = \"1\"\n");
    let resolution = resolve(&local, &root, &ResolveOptions::default()).unwrap();
    assert_eq!(picks(&resolution), ["app-dep 1.0.0", "leaf 1.0.0"]);
    assert!(local.versions("untouched").is_err());
}

#[test]
fn files_and_memory_resolve_alike_whatever_the_json_spacing() {
    let entries = || {
        [
            pkg("web", "1.0.0")
                .with(dep("json", "^1"))
                .feature("default", &["fast"])
                .feature("fast", &[]),
            pkg("web", "1.2.0")
                .with(dep("json", "^1.1"))
                .rust_version("1.80"),
            pkg("json", "1.0.0"),
            pkg("json", "1.1.0").yanked(),
            pkg("json", "1.1.5"),
            pkg("json", "2.0.0"),
        ]
    };
    let memory: MemoryIndex = index(entries());
    let compact = tempfile::tempdir().unwrap();
    let spaced = tempfile::tempdir().unwrap();
    for name in ["web", "json"] {
        let text: String = entries()
            .into_iter()
            .map(crate::support::Entry::entry)
            .filter(|e| e.name == name)
            .map(|e| e.to_line() + "\n")
            .collect();
        write(compact.path(), name, &text);
        let spaced_text: String = text
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let pretty = serde_json::to_string_pretty(&value)
                    .unwrap()
                    .replace('\n', "");
                pretty + "\n"
            })
            .collect();
        write(spaced.path(), name, &spaced_text);
    }
    let root = manifest("[dependencies]\nweb = \"1\"\n");
    let options = ResolveOptions {
        rust_version: Some(wharf_resolver::Version::new(1, 75, 0)),
        ..ResolveOptions::default()
    };
    let expected = picks(&resolve(&memory, &root, &options).unwrap());
    assert_eq!(expected, ["json 1.1.5", "web 1.0.0"]);
    for dir in [compact.path(), spaced.path()] {
        let local = LocalIndex::open(dir).unwrap();
        assert_eq!(picks(&resolve(&local, &root, &options).unwrap()), expected);
    }
}

#[test]
fn a_package_guessed_ahead_but_never_needed_cannot_fail_the_resolution() {
    let dir = tempfile::tempdir().unwrap();
    // The newest release needs `broken`, whose index entry is unreadable; the root pins the
    // older one, so `broken` is read ahead (guessed from the newest release) but never needed.
    let lines = [
        pkg("app-dep", "1.0.0")
            .with(dep("leaf", "1"))
            .entry()
            .to_line(),
        pkg("app-dep", "2.0.0")
            .with(dep("broken", "1"))
            .entry()
            .to_line(),
    ];
    write(dir.path(), "app-dep", &lines.join("\n"));
    write(dir.path(), "leaf", &pkg("leaf", "1.0.0").entry().to_line());
    fs::create_dir_all(dir.path().join(index_path("broken"))).unwrap();
    let local = LocalIndex::open(dir.path()).unwrap();
    let root = manifest("[dependencies]\napp-dep = \"=1.0.0\"\n");
    let resolution = resolve(&local, &root, &ResolveOptions::default()).unwrap();
    assert_eq!(picks(&resolution), ["app-dep 1.0.0", "leaf 1.0.0"]);

    // When the unreadable package is needed, its error is the resolution's.
    let root = manifest("[dependencies]\napp-dep = \"2\"\n");
    let error = resolve(&local, &root, &ResolveOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("broken"),
        "the error names the unreadable entry: {error}"
    );
}

#[test]
fn index_files_larger_than_the_read_chunk_resolve_like_memory() {
    // Lines of ~10 KiB (a large feature table), one of ~300 KiB, and CRLF endings: lines
    // cross the boundaries of every chunk the scanner reads, and each version's details are
    // read again by offset.
    let features: Vec<String> = (0..400).map(|i| format!("feature-{i:04}")).collect();
    let feature_refs: Vec<&str> = features.iter().map(String::as_str).collect();
    let huge: Vec<String> = (0..12_000).map(|i| format!("huge-{i:05}")).collect();
    let huge_refs: Vec<&str> = huge.iter().map(String::as_str).collect();
    let entries = || {
        let mut entries = Vec::new();
        for minor in 0..60 {
            let mut entry = pkg("wide", &format!("1.{minor}.0")).feature("all", &feature_refs);
            if minor == 31 {
                entry = entry.feature("huge", &huge_refs);
            }
            if minor % 2 == 1 {
                entry = entry.with(dep("leaf", &format!("=1.{minor}.0")));
            }
            entries.push(entry);
        }
        for minor in 0..60 {
            entries.push(pkg("leaf", &format!("1.{minor}.0")));
        }
        entries
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = std::collections::BTreeMap::<String, Vec<String>>::new();
    for entry in entries() {
        let entry = entry.entry();
        files
            .entry(entry.name.clone())
            .or_default()
            .push(entry.to_line());
    }
    for (name, lines) in &files {
        write(dir.path(), name, &lines.join("\r\n"));
    }
    assert!(
        fs::metadata(dir.path().join(index_path("wide")))
            .unwrap()
            .len()
            > 512 * 1024
    );
    let memory = index(entries());
    let local = LocalIndex::open(dir.path()).unwrap();
    for requirement in ["1", "=1.31.0", "<1.31", "<1.58"] {
        let root = manifest(&format!("[dependencies]\nwide = \"{requirement}\"\n"));
        let from_files = resolve(&local, &root, &ResolveOptions::default()).unwrap();
        let from_memory = resolve(&memory, &root, &ResolveOptions::default()).unwrap();
        assert_eq!(
            picks(&from_files),
            picks(&from_memory),
            "wide = {requirement}"
        );
    }
    let root = manifest("[dependencies]\nwide = \"=1.31.0\"\n");
    let resolution = resolve(&local, &root, &ResolveOptions::default()).unwrap();
    assert_eq!(picks(&resolution), ["leaf 1.31.0", "wide 1.31.0"]);
}

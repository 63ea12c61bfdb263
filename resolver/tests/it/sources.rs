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
    let local = LocalIndex::new(dir.path());
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
    let local = LocalIndex::new(dir.path());
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
        let local = LocalIndex::new(dir);
        assert_eq!(picks(&resolve(&local, &root, &options).unwrap()), expected);
    }
}

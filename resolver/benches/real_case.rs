//! Resolves the largest real case of `fixtures/resolver` (the solvable case with the most
//! packages in cargo's lock file) from the unpacked real index, parse included: every iteration
//! builds a fresh `LocalIndex`, so each index file the resolution needs is read and parsed again.
//!
//! `scripts/resolver-fixtures/bench-vs-cargo.sh` compares the figure with cargo on the same data.

use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use wharf_resolver::{LocalIndex, ResolveOptions, RootManifest, resolve};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/resolver")
}

/// Unpacks the committed index into a fresh directory under the target's temporary directory.
fn unpack_real_index() -> tempfile::TempDir {
    let archive_path = fixture_dir().join("index.tar.gz");
    let archive = fs::File::open(&archive_path)
        .unwrap_or_else(|e| panic!("opening `{}`: {e}", archive_path.display()));
    let dir =
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("creating a temporary directory");
    tar::Archive::new(flate2::read::GzDecoder::new(archive))
        .unpack(dir.path())
        .unwrap_or_else(|e| panic!("unpacking `{}`: {e}", archive_path.display()));
    dir
}

/// The solvable case whose `expected.json` lists the most packages.
fn largest_case() -> String {
    let mut largest = (String::new(), 0);
    for entry in fs::read_dir(fixture_dir().join("cases")).expect("reading the case directory") {
        let dir = entry.expect("reading a case entry").path();
        let text =
            fs::read_to_string(dir.join("expected.json")).expect("every case has expected.json");
        let expected: serde_json::Value =
            serde_json::from_str(&text).expect("expected.json is JSON");
        let count = expected["packages"].as_array().map_or(0, Vec::len);
        if count > largest.1 {
            let name = dir.file_name().expect("case directories have names");
            largest = (name.to_string_lossy().into_owned(), count);
        }
    }
    largest.0
}

fn real_case(c: &mut Criterion) {
    let index = unpack_real_index();
    let case = largest_case();
    let root = RootManifest::from_path(&fixture_dir().join("cases").join(&case).join("Cargo.toml"))
        .expect("the case manifest parses");
    let options = ResolveOptions::default();

    let mut group = c.benchmark_group("real_case");
    group.sample_size(20);
    group.bench_function(case, |b| {
        b.iter(|| {
            let source = LocalIndex::open(index.path()).expect("the unpacked index opens");
            let resolution = resolve(&source, &root, &options).expect("the case resolves");
            black_box(resolution.packages.len())
        });
    });
    group.finish();
}

criterion_group!(benches, real_case);
criterion_main!(benches);

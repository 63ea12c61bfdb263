//! The in-memory sparse-index hot path: `IndexCache::get` and
//! `CachedIndexFile::matches_if_none_match`, over a cache the size of a mid-sized private
//! registry (2,000 files of a few versions each).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use wharf_index_format::{IndexEntry, index_path};
use wharf_registry_server::IndexCache;
use wharf_storage::IndexFileSnapshot;
use wharf_test_support::{DepExt, dep, pkg};

const FILES: usize = 2_000;
const VERSIONS: usize = 4;

fn entry(name: &str, version: usize) -> IndexEntry {
    (0..4)
        .fold(
            pkg(name, &format!("1.{version}.0"))
                .cksum(&format!("{:064x}", version + name.len()))
                .feature("default", &["std"])
                .feature("std", &[])
                .rust_version("1.70"),
            |entry, d| {
                let mut dependency = dep(&format!("dependency-{d}"), "^1.0").features(&["std"]);
                if d == 3 {
                    dependency = dependency.optional();
                }
                if d == 0 {
                    dependency = dependency.no_default();
                }
                entry.with(dependency)
            },
        )
        .entry()
}

fn filled_cache() -> (IndexCache, Vec<String>) {
    let cache = IndexCache::default();
    let mut paths = Vec::with_capacity(FILES);
    for i in 0..FILES {
        let name = format!("package-{i}");
        let mut text = String::new();
        for v in 0..VERSIONS {
            text.push_str(&entry(&name, v).to_line());
            text.push('\n');
        }
        let path = index_path(&name);
        cache.install(&IndexFileSnapshot {
            name,
            path: path.clone(),
            bytes: Bytes::from(text),
            seq: i as u64,
            last_modified: 1_700_000_000,
        });
        paths.push(path);
    }
    (cache, paths)
}

fn index_cache(c: &mut Criterion) {
    let (cache, paths) = filled_cache();
    let path = &paths[FILES / 2];
    let file = cache.get(path).expect("the file was installed");
    let etag = file.etag.as_bytes().to_vec();
    let stale = b"\"0000000000000000000000000000000000000000000000000000000000000000\"".to_vec();

    let mut group = c.benchmark_group("index_cache");
    group.bench_function("get hit", |b| b.iter(|| cache.get(black_box(path))));
    group.bench_function("get miss", |b| {
        b.iter(|| cache.get(black_box("no/su/nosuchpackage")));
    });
    group.bench_function("get + If-None-Match current (304)", |b| {
        b.iter(|| {
            let file = cache.get(black_box(path)).expect("cached");
            file.matches_if_none_match(black_box(&etag))
        });
    });
    group.bench_function("get + If-None-Match stale (200)", |b| {
        b.iter(|| {
            let file = cache.get(black_box(path)).expect("cached");
            file.matches_if_none_match(black_box(&stale))
        });
    });
    group.finish();
}

criterion_group!(benches, index_cache);
criterion_main!(benches);

//! The in-memory sparse-index hot path: `IndexCache::get` and
//! `CachedIndexFile::matches_if_none_match`, over a cache the size of a mid-sized private
//! registry (2,000 files of a few versions each).

use std::collections::BTreeMap;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use wharf_index_format::{DependencyKind, IndexDependency, IndexEntry, index_path};
use wharf_registry_server::IndexCache;
use wharf_storage::IndexFileSnapshot;

const FILES: usize = 2_000;
const VERSIONS: usize = 4;

fn entry(name: &str, version: usize) -> IndexEntry {
    let deps = (0..4)
        .map(|d| IndexDependency {
            name: format!("dependency-{d}"),
            req: "^1.0".to_owned(),
            features: vec!["std".to_owned()],
            optional: d == 3,
            default_features: d != 0,
            target: None,
            kind: DependencyKind::Normal,
            registry: None,
            package: None,
        })
        .collect();
    IndexEntry {
        name: name.to_owned(),
        vers: semver::Version::new(1, version as u64, 0),
        deps,
        cksum: format!("{:064x}", version + name.len()),
        features: BTreeMap::from([
            ("default".to_owned(), vec!["std".to_owned()]),
            ("std".to_owned(), Vec::new()),
        ]),
        features2: None,
        yanked: false,
        links: None,
        rust_version: Some("1.70".to_owned()),
        v: None,
        pubtime: None,
        extensions: BTreeMap::new(),
    }
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

//! The on-disk cache: filled by a first index, revalidated (304) by the next one on the same
//! directory, replaced on 200, removed on 404, ignored when damaged, separate per index URL.

use std::path::{Path, PathBuf};

use wharf_client::{ClientOptions, SparseIndex};
use wharf_resolver::{IndexSource, ResolveOptions, RootManifest, resolve};

use crate::server::{Answer, TestServer};
use crate::{file_path, line, quick_retries};

/// `app-top` → `app-mid` → `app-leaf`, each with an `ETag`.
const PACKAGES: [&str; 3] = ["app-top", "app-mid", "app-leaf"];

fn serve() -> TestServer {
    let server = TestServer::start();
    server.set(
        &file_path("app-top"),
        Answer::ok(line("app-top", "1.0.0", &[("app-mid", "^1")])).etag("\"top-1\""),
    );
    server.set(
        &file_path("app-mid"),
        Answer::ok(line("app-mid", "1.0.0", &[("app-leaf", "^1")])).etag("\"mid-1\""),
    );
    server.set(
        &file_path("app-leaf"),
        Answer::ok(line("app-leaf", "1.0.0", &[])).etag("\"leaf-1\""),
    );
    server
}

fn options(cache: &Path, prefetch_threads: usize) -> ClientOptions {
    ClientOptions {
        cache_dir: Some(cache.to_owned()),
        prefetch_threads,
        ..ClientOptions::default()
    }
}

fn open(server: &TestServer, cache: &Path) -> SparseIndex {
    SparseIndex::with_options(&server.index_url(), None, &options(cache, 0)).unwrap()
}

fn resolve_top(index: &SparseIndex) -> String {
    let root = RootManifest::from_toml_str(
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\napp-top = \"1\"\n",
        Path::new("."),
    )
    .unwrap();
    resolve(index, &root, &ResolveOptions::default())
        .unwrap()
        .to_json()
}

/// The `If-None-Match` of each request for `path`, in order.
fn if_none_match(server: &TestServer, path: &str) -> Vec<Option<String>> {
    server
        .seen()
        .into_iter()
        .filter(|seen| seen.path == path)
        .map(|seen| seen.headers.get("if-none-match").cloned())
        .collect()
}

/// The file under a cache root that records its last collection.
const GC_MARKER: &str = ".last-gc";

/// Every cache entry under `dir`, recursively (not the collection marker).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|name| name == GC_MARKER) {
            continue;
        }
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_second_index_on_the_same_cache_revalidates_every_file() {
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    let opened = |threads| {
        SparseIndex::with_options(&server.index_url(), None, &options(cache.path(), threads))
            .unwrap()
    };

    let first = opened(SparseIndex::DEFAULT_PREFETCH_THREADS);
    let expected = resolve_top(&first);
    assert_eq!(first.requests(), 1 + PACKAGES.len() as u64);
    assert_eq!(first.revalidated(), 0);
    drop(first);
    assert_eq!(files_under(cache.path()).len(), PACKAGES.len());

    let second = opened(SparseIndex::DEFAULT_PREFETCH_THREADS);
    assert_eq!(resolve_top(&second), expected);
    // config.json, the snapshot bin list (this server has none: 404), one request per file.
    assert_eq!(second.requests(), 2 + PACKAGES.len() as u64);
    assert_eq!(second.revalidated(), PACKAGES.len() as u64);
    assert_eq!(second.unchanged_by_snapshot(), 0);
    for (name, etag) in PACKAGES
        .iter()
        .zip(["\"top-1\"", "\"mid-1\"", "\"leaf-1\""])
    {
        assert_eq!(
            if_none_match(&server, &file_path(name)),
            [None, Some(etag.to_owned())],
            "{name}"
        );
    }
    let answered: Vec<u16> = server
        .seen()
        .iter()
        .filter(|seen| !["/index/config.json", "/index/.wharf/bins"].contains(&&*seen.path))
        .map(|seen| seen.status)
        .collect();
    assert_eq!(answered, [200, 200, 200, 304, 304, 304]);
    // config.json is always fetched afresh.
    assert_eq!(if_none_match(&server, "/index/config.json"), [None, None]);
}

#[test]
fn a_changed_file_replaces_its_entry() {
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    resolve_top(&open(&server, cache.path()));

    let leaf = file_path("app-leaf");
    let both = format!(
        "{}\n{}\n",
        line("app-leaf", "1.0.0", &[]),
        line("app-leaf", "1.1.0", &[])
    );
    server.set(&leaf, Answer::ok(both).etag("\"leaf-2\""));
    let second = open(&server, cache.path());
    assert!(resolve_top(&second).contains(r#""app-leaf","version":"1.1.0""#));
    assert_eq!(second.revalidated(), 2);

    let third = open(&server, cache.path());
    assert_eq!(third.versions("app-leaf").unwrap().len(), 2);
    assert_eq!(third.revalidated(), 1);
    assert_eq!(
        if_none_match(&server, &leaf)
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("\"leaf-2\"")
    );
}

#[test]
fn a_package_gone_removes_its_entry() {
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    resolve_top(&open(&server, cache.path()));
    assert_eq!(files_under(cache.path()).len(), 3);

    let leaf = file_path("app-leaf");
    server.set(&leaf, Answer::status(404, "gone"));
    let second = open(&server, cache.path());
    assert!(second.versions("app-leaf").unwrap().is_empty());
    assert_eq!(files_under(cache.path()).len(), 2);

    server.set(
        &leaf,
        Answer::ok(line("app-leaf", "2.0.0", &[])).etag("\"leaf-3\""),
    );
    let third = open(&server, cache.path());
    assert_eq!(third.versions("app-leaf").unwrap().len(), 1);
    assert_eq!(third.revalidated(), 0);
    assert_eq!(if_none_match(&server, &leaf).last(), Some(&None));
}

#[test]
fn a_damaged_entry_is_fetched_again_without_error() {
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    let expected = resolve_top(&open(&server, cache.path()));
    let entries = files_under(cache.path());
    assert_eq!(entries.len(), 3);
    // One entry truncated, one garbage, one with its body changed under an intact head.
    let text = std::fs::read_to_string(&entries[0]).unwrap();
    std::fs::write(&entries[0], &text[..text.len() / 2]).unwrap();
    std::fs::write(&entries[1], b"\xff\x00 not an entry at all").unwrap();
    let text = std::fs::read_to_string(&entries[2]).unwrap();
    std::fs::write(&entries[2], text.replace("1.0.0", "9.9.9")).unwrap();

    let second = open(&server, cache.path());
    assert_eq!(resolve_top(&second), expected);
    assert_eq!(second.revalidated(), 0);
    for name in PACKAGES {
        assert_eq!(if_none_match(&server, &file_path(name)), [None, None]);
    }
    // The entries were written anew.
    let third = open(&server, cache.path());
    assert_eq!(resolve_top(&third), expected);
    assert_eq!(third.revalidated(), 3);
}

#[test]
fn two_index_urls_do_not_share_entries() {
    let one = serve();
    let other = serve();
    let cache = tempfile::tempdir().unwrap();
    let expected = resolve_top(&open(&one, cache.path()));

    let elsewhere = open(&other, cache.path());
    assert_eq!(resolve_top(&elsewhere), expected);
    assert_eq!(elsewhere.revalidated(), 0);
    assert!(
        other
            .seen()
            .iter()
            .all(|seen| !seen.headers.contains_key("if-none-match")),
        "validators learnt from one index are never sent to another"
    );
    let dirs = std::fs::read_dir(cache.path())
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(dirs, 2);
    assert_eq!(files_under(cache.path()).len(), 6);
}

#[test]
fn without_a_cache_dir_nothing_is_revalidated() {
    let server = serve();
    for _ in 0..2 {
        let index = SparseIndex::with_prefetch_threads(&server.index_url(), None, 0).unwrap();
        resolve_top(&index);
        assert_eq!(index.revalidated(), 0);
    }
    assert!(
        server
            .seen()
            .iter()
            .all(|seen| !seen.headers.contains_key("if-none-match"))
    );
}

#[test]
fn a_revalidation_that_gets_a_5xx_is_retried_and_then_served_from_the_cache() {
    let server = serve();
    let leaf = file_path("app-leaf");
    let answer = Answer::ok(line("app-leaf", "1.0.0", &[])).etag("\"leaf-1\"");
    server.set_sequence(
        &leaf,
        vec![answer.clone(), Answer::status(503, "busy"), answer],
    );
    let cache = tempfile::tempdir().unwrap();
    let retrying = |cache: &Path| ClientOptions {
        cache_dir: Some(cache.to_owned()),
        prefetch_threads: 0,
        ..quick_retries(1)
    };
    let first = SparseIndex::with_options(&server.index_url(), None, &retrying(cache.path()));
    assert_eq!(first.unwrap().versions("app-leaf").unwrap().len(), 1);

    let second =
        SparseIndex::with_options(&server.index_url(), None, &retrying(cache.path())).unwrap();
    assert_eq!(second.versions("app-leaf").unwrap().len(), 1);
    assert_eq!(second.revalidated(), 1);
    let answered: Vec<u16> = server
        .seen()
        .iter()
        .filter(|seen| seen.path == leaf)
        .map(|seen| seen.status)
        .collect();
    assert_eq!(answered, [200, 503, 304]);
}

/// Sets the modification time of `path` to `age` ago.
fn age(path: &Path, age: std::time::Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

#[test]
fn entries_unused_for_longer_than_the_max_age_are_deleted_when_a_cache_is_opened() {
    const DAY: std::time::Duration = std::time::Duration::from_hours(24);
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    let first = open(&server, cache.path());
    resolve_top(&first);
    drop(first);
    let entries = files_under(cache.path());
    assert_eq!(entries.len(), PACKAGES.len());
    assert!(cache.path().join(GC_MARKER).exists(), "opening collected");

    // Two entries were last used 100 days ago, one yesterday; the last collection was two
    // days ago, so the next open collects.
    let (old, recent) = entries.split_at(2);
    for entry in old {
        age(entry, 100 * DAY);
    }
    age(&recent[0], DAY);
    age(&cache.path().join(GC_MARKER), 2 * DAY);
    let keep_forever = ClientOptions {
        cache_max_age: None,
        ..options(cache.path(), 0)
    };
    drop(SparseIndex::with_options(&server.index_url(), None, &keep_forever).unwrap());
    assert_eq!(
        files_under(cache.path()).len(),
        3,
        "`None` keeps everything"
    );

    let second = open(&server, cache.path());
    assert_eq!(files_under(cache.path()), recent.to_vec());
    assert_eq!(
        resolve_top(&second),
        resolve_top(&open(&server, cache.path()))
    );
    assert_eq!(
        second.revalidated(),
        1,
        "only the recent entry was still there"
    );
}

//! The on-disk cache: filled by a first index, revalidated (304) by the next one on the same
//! directory, replaced on 200, removed on 404, ignored when damaged, separate per index URL,
//! one pack file per index URL.

use std::path::{Path, PathBuf};

use wharf_client::{ClientOptions, SparseIndex};
use wharf_resolver::{IndexSource, ResolveOptions, RootManifest, resolve};

use crate::server::{Answer, TestServer};
use crate::{file_path, line, quick_retries};

/// `app-top` → `app-mid` → `app-leaf`, each with an `ETag`.
const PACKAGES: [&str; 3] = ["app-top", "app-mid", "app-leaf"];

/// The file served for each of [`PACKAGES`].
fn served_line(name: &str) -> String {
    match name {
        "app-top" => line("app-top", "1.0.0", &[("app-mid", "^1")]),
        "app-mid" => line("app-mid", "1.0.0", &[("app-leaf", "^1")]),
        _ => line("app-leaf", "1.0.0", &[]),
    }
}

fn serve() -> TestServer {
    let server = TestServer::start();
    for (name, etag) in PACKAGES
        .iter()
        .zip(["\"top-1\"", "\"mid-1\"", "\"leaf-1\""])
    {
        server.set(&file_path(name), Answer::ok(served_line(name)).etag(etag));
    }
    server
}

/// The hex SHA-256 of `text`.
fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
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

/// The pack file that holds an index's cached files.
const PACK: &str = "index.pack";

/// Every file under `dir`, recursively (not the collection marker).
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
    let files = files_under(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(PACK), "{files:?}");

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

    let leaf = file_path("app-leaf");
    server.set(&leaf, Answer::status(404, "gone"));
    let second = open(&server, cache.path());
    assert!(second.versions("app-leaf").unwrap().is_empty());

    server.set(
        &leaf,
        Answer::ok(line("app-leaf", "2.0.0", &[])).etag("\"leaf-3\""),
    );
    let third = open(&server, cache.path());
    assert_eq!(third.versions("app-leaf").unwrap().len(), 1);
    assert_eq!(third.revalidated(), 0);
    assert_eq!(if_none_match(&server, &leaf).last(), Some(&None));
}

/// Replaces every `from` in `path` by `to` (same length), bytes not text: the pack holds
/// binary headers.
fn replace_in(path: &Path, from: &[u8], to: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        bytes[at + found..at + found + from.len()].copy_from_slice(to);
        at += found + from.len();
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_entry_is_fetched_again_without_error() {
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    let expected = resolve_top(&open(&server, cache.path()));
    let pack = files_under(cache.path()).remove(0);
    // Every body changed under an intact head.
    replace_in(&pack, b"1.0.0", b"9.9.9");

    let second = open(&server, cache.path());
    assert_eq!(resolve_top(&second), expected);
    assert_eq!(second.revalidated(), 0);
    for name in PACKAGES {
        assert_eq!(if_none_match(&server, &file_path(name)), [None, None]);
    }
    drop(second);
    // The entries were written anew; then the pack's last record is torn (as by a crash
    // while appending): the others are still used.
    let third = open(&server, cache.path());
    assert_eq!(resolve_top(&third), expected);
    assert_eq!(third.revalidated(), 3);
    drop(third);
    let bytes = std::fs::read(&pack).unwrap();
    std::fs::write(&pack, &bytes[..bytes.len() - 5]).unwrap();
    let fourth = open(&server, cache.path());
    assert_eq!(resolve_top(&fourth), expected);
    assert_eq!(fourth.revalidated(), 2);
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
    let files = files_under(cache.path());
    assert_eq!(files.len(), 2, "one pack each: {files:?}");
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

/// Collection by age itself is shown by `cache_gc`'s unit tests (entries' last uses are
/// records inside the pack); here: a cache is collected when opened, and a due collection
/// keeps every entry used within the age.
#[test]
fn a_cache_is_collected_when_opened_and_keeps_what_was_used_recently() {
    const DAY: std::time::Duration = std::time::Duration::from_hours(24);
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    let first = open(&server, cache.path());
    let expected = resolve_top(&first);
    drop(first);
    assert!(cache.path().join(GC_MARKER).exists(), "opening collected");

    age(&cache.path().join(GC_MARKER), 2 * DAY);
    let second = open(&server, cache.path());
    assert_eq!(resolve_top(&second), expected);
    assert_eq!(second.revalidated(), PACKAGES.len() as u64);
    let marker_age = std::fs::metadata(cache.path().join(GC_MARKER))
        .unwrap()
        .modified()
        .unwrap()
        .elapsed()
        .unwrap_or_default();
    assert!(marker_age < DAY, "the due collection ran");
}

/// A cache written in the layout before the pack (one file per index file, flat or nested
/// under index paths) is moved into the pack once: its files are revalidated, not fetched
/// again, and removed.
#[test]
fn a_cache_of_the_older_layouts_is_moved_into_the_pack() {
    let server = serve();
    let cache = tempfile::tempdir().unwrap();
    let expected = resolve_top(&open(&server, cache.path()));
    let pack = files_under(cache.path()).remove(0);
    let dir = pack.parent().unwrap().to_owned();
    std::fs::remove_file(&pack).unwrap();
    // Entries as the older layouts wrote them (no `len`/`crc32`: checked by SHA-256).
    for (name, etag) in PACKAGES
        .iter()
        .zip(["\"top-1\"", "\"mid-1\"", "\"leaf-1\""])
    {
        let body = served_line(name);
        let sha256 = sha256_hex(&body);
        let head = format!(
            "{{\"etag\":{},\"last_modified\":null,\"sha256\":\"{sha256}\"}}\n",
            serde_json::to_string(etag).unwrap()
        );
        let path = if *name == "app-top" {
            dir.join(file_path(name).trim_start_matches("/index/"))
        } else {
            dir.join(name)
        };
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{head}{body}")).unwrap();
    }
    let second = open(&server, cache.path());
    assert_eq!(resolve_top(&second), expected);
    assert_eq!(second.revalidated(), PACKAGES.len() as u64);
    let files = files_under(cache.path());
    assert_eq!(files, [pack], "only the pack is left");
}

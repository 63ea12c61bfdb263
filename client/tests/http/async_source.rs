//! `AsyncSparseIndex` feeding the resolver from a tokio runtime: the resolver runs on its
//! own thread, so even a single-threaded runtime keeps answering; every file is read once
//! and the resolution is the one the same index gives from memory.

use wharf_client::{AsyncSparseIndex, ClientOptions};
use wharf_index_format::IndexEntry;
use wharf_resolver::{
    MemoryIndex, ResolveError, ResolveOptions, Resolver, resolve, run_with_async_source,
};

use crate::file_path;
use crate::prefetch::{PACKAGES, ecosystem, name, root, serve};
use crate::server::{Answer, TestServer};

/// A current-thread runtime: were the resolver to block it, the reads it waits for could
/// never run and this test would hang instead of passing.
#[tokio::test(flavor = "current_thread")]
async fn resolves_on_a_single_threaded_runtime_as_from_memory() {
    let lines = ecosystem();
    let mut memory = MemoryIndex::default();
    for text in &lines {
        memory.add(IndexEntry::from_line(text).unwrap());
    }
    let expected = resolve(&memory, &root(), &ResolveOptions::default()).unwrap();
    assert_eq!(expected.packages.len(), PACKAGES);

    let server = serve(&lines);
    let index = AsyncSparseIndex::connect(&server.index_url(), None, &ClientOptions::default())
        .await
        .unwrap();
    let resolution = run_with_async_source(&index, |source| Resolver::new(source).resolve(&root()))
        .await
        .unwrap();
    assert_eq!(resolution.to_json(), expected.to_json());
    assert_eq!(index.requests(), 1 + PACKAGES as u64);
    for number in 0..PACKAGES {
        assert_eq!(
            server.hits(&file_path(&name(number))),
            1,
            "{}",
            name(number)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_is_reported_for_its_package() {
    let server = TestServer::start();
    server.set(
        &file_path("top"),
        Answer::ok(crate::line("top", "1.0.0", &[("broken", "^1")])),
    );
    server.set(&file_path("broken"), Answer::status(500, "down"));
    let index = AsyncSparseIndex::connect(&server.index_url(), None, &ClientOptions::default())
        .await
        .unwrap();
    let wanted = wharf_resolver::Requirements::new().require("top", "1");
    let error = run_with_async_source(&index, move |source| {
        Resolver::new(source).resolve_requirements(&wanted)
    })
    .await
    .unwrap_err();
    assert!(matches!(error, ResolveError::Index { ref package, .. } if package == "broken"));
    assert!(error.to_string().contains("HTTP 500"), "{error}");
}

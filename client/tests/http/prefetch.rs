//! Prefetch: every file once, the same resolution as from memory, failures only when asked.

use std::path::Path;
use std::time::{Duration, Instant};

use wharf_client::SparseIndex;
use wharf_index_format::{IndexEntry, index_path};
use wharf_resolver::{IndexSource, MemoryIndex, ResolveOptions, RootManifest, resolve};

use crate::server::{Answer, TestServer};
use crate::{line, quick_retries};

pub(crate) const PACKAGES: usize = 50;

pub(crate) fn name(number: usize) -> String {
    format!("pkg-{number:02}")
}

/// Package `i` depends on `i + 1` (a chain) and on `2i + 1`, `2i + 2` (a fan-out), each in
/// two versions; every package is reachable from `pkg-00`.
pub(crate) fn ecosystem() -> Vec<String> {
    let mut lines = Vec::new();
    for number in 0..PACKAGES {
        let deps: Vec<String> = [number + 1, 2 * number + 1, 2 * number + 2]
            .into_iter()
            .filter(|&dep| dep < PACKAGES)
            .map(name)
            .collect();
        let deps: Vec<(&str, &str)> = deps.iter().map(|dep| (dep.as_str(), "^1")).collect();
        for vers in ["1.0.0", "1.1.0"] {
            lines.push(line(&name(number), vers, &deps));
        }
    }
    lines
}

pub(crate) fn serve(lines: &[String]) -> TestServer {
    let server = TestServer::start();
    for number in 0..PACKAGES {
        let own: Vec<&str> = lines
            .iter()
            .filter(|line| line.contains(&format!("\"name\":\"{}\",\"vers\"", name(number))))
            .map(String::as_str)
            .collect();
        assert_eq!(own.len(), 2);
        let path = format!("/index/{}", index_path(&name(number)));
        server.set(&path, Answer::ok(own.join("\n") + "\n"));
    }
    server
}

pub(crate) fn root() -> RootManifest {
    RootManifest::from_toml_str(
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\npkg-00 = \"1\"\n",
        Path::new("."),
    )
    .unwrap()
}

#[test]
fn every_file_is_fetched_once_and_the_resolution_matches_memory() {
    let lines = ecosystem();
    let mut memory = MemoryIndex::default();
    for text in &lines {
        memory.add(IndexEntry::from_line(text).unwrap());
    }
    let expected = resolve(&memory, &root(), &ResolveOptions::default()).unwrap();
    assert_eq!(expected.packages.len(), PACKAGES);

    for threads in [0, 1, SparseIndex::DEFAULT_PREFETCH_THREADS, 16] {
        let server = serve(&lines);
        let index = SparseIndex::with_prefetch_threads(&server.index_url(), None, threads).unwrap();
        index.prefetch(["pkg-00"]);
        let resolution = resolve(&index, &root(), &ResolveOptions::default()).unwrap();
        assert_eq!(
            resolution.to_json(),
            expected.to_json(),
            "{threads} threads"
        );
        // A second resolution is served from memory.
        let again = resolve(&index, &root(), &ResolveOptions::default()).unwrap();
        assert_eq!(again.to_json(), expected.to_json());
        assert_eq!(index.requests(), 1 + PACKAGES as u64, "{threads} threads");
        drop(index);
        for number in 0..PACKAGES {
            let path = format!("/index/{}", index_path(&name(number)));
            assert_eq!(server.hits(&path), 1, "{path} with {threads} threads");
        }
    }
}

/// Waits until the server has seen a request for `path` (a prefetch), so the test knows the
/// prefetch was sent before it asks.
fn wait_for_request(server: &TestServer, path: &str) {
    let give_up = Instant::now() + Duration::from_mins(1);
    while server.hits(path) == 0 {
        assert!(Instant::now() < give_up, "no request for {path} arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_failed_prefetch_is_reported_only_for_the_package_asked_for() {
    let server = TestServer::start();
    server.set(
        &format!("/index/{}", index_path("top")),
        Answer::ok(line("top", "1.0.0", &[("shaky", "^1"), ("broken", "^1")])),
    );
    let shaky = format!("/index/{}", index_path("shaky"));
    let broken = format!("/index/{}", index_path("broken"));
    server.set_sequence(
        &shaky,
        vec![
            Answer::status(503, "busy"),
            Answer::ok(line("shaky", "1.0.0", &[])),
        ],
    );
    server.set(&broken, Answer::status(500, "down"));
    // No retries inside a fetch here: this is about what a failed prefetch leaves behind.
    let index = SparseIndex::with_options(&server.index_url(), None, &quick_retries(0)).unwrap();
    assert_eq!(index.versions("top").unwrap().len(), 1);
    wait_for_request(&server, &shaky);
    wait_for_request(&server, &broken);
    // The prefetch of `shaky` got 503; asking for it tries again and gets the file.
    assert_eq!(index.versions("shaky").unwrap().len(), 1);
    assert_eq!(server.hits(&shaky), 2);
    // `broken` stays broken: the error surfaces now, for that package only.
    let error = index.versions("broken").unwrap_err().to_string();
    assert!(
        error.contains("`broken`") && error.contains("HTTP 500"),
        "{error}"
    );
    let hits = server.hits(&broken);
    assert!(index.versions("broken").is_err());
    assert_eq!(server.hits(&broken), hits, "the answer on demand is final");
}

/// Arrivals fetch ahead only the dependencies of a file's newest release; an older version's
/// are fetched when the resolver reads its line. A dependency of a version nobody picks (old
/// or yanked) is never requested.
#[test]
fn only_the_versions_tried_and_the_newest_release_are_followed() {
    let server = TestServer::start();
    let file = |name: &str, lines: &[String]| {
        server.set(
            &format!("/index/{}", index_path(name)),
            Answer::ok(lines.join("\n") + "\n"),
        );
    };
    let yanked = line("top", "3.0.0", &[("yanked-dep", "^1")])
        .replace("\"yanked\":false", "\"yanked\":true");
    file(
        "top",
        &[
            line("top", "1.0.0", &[("old-dep", "^1")]),
            line("top", "2.0.0", &[("new-dep", "^1")]),
            yanked,
        ],
    );
    for name in ["old-dep", "new-dep", "yanked-dep"] {
        file(name, &[line(name, "1.0.0", &[])]);
    }
    let root = |requirement: &str| {
        RootManifest::from_toml_str(
            &format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\n[dependencies]\ntop = \"{requirement}\"\n"
            ),
            Path::new("."),
        )
        .unwrap()
    };
    let index = SparseIndex::new(&server.index_url(), None).unwrap();
    let picked = resolve(&index, &root("2"), &ResolveOptions::default()).unwrap();
    assert_eq!(picked.versions_of("new-dep").len(), 1);
    drop(index);
    for never in ["old-dep", "yanked-dep"] {
        assert_eq!(
            server.hits(&format!("/index/{}", index_path(never))),
            0,
            "{never}"
        );
    }

    // An older version tried: its dependencies are fetched then, and the resolution holds.
    let index = SparseIndex::new(&server.index_url(), None).unwrap();
    let picked = resolve(&index, &root("1"), &ResolveOptions::default()).unwrap();
    assert_eq!(picked.versions_of("old-dep").len(), 1);
    drop(index);
    assert_eq!(
        server.hits(&format!("/index/{}", index_path("yanked-dep"))),
        0
    );
}

//! Every rejected publish answers with the right status and a message naming the problem, and
//! leaves blobs, database, log and index exactly as they were.

use std::io::Write;

use wharf_e2e_tests::upload::{crate_tarball, frame, metadata_json, publish_body};
use wharf_e2e_tests::{TestRegistry, TestResult};
use wharf_test_support::raw_tar::{Format, RawTar, linked_header};
use wharf_test_support::{gzip, manifest};

/// One tar entry written with a raw header, so tests can make entries `tar::Builder` refuses.
struct RawEntry<'a> {
    path: &'a [u8],
    contents: &'a [u8],
    kind: tar::EntryType,
    mode: u32,
    link: &'a [u8],
}

impl<'a> RawEntry<'a> {
    fn file(path: &'a str, contents: &'a [u8]) -> Self {
        Self {
            path: path.as_bytes(),
            contents,
            kind: tar::EntryType::Regular,
            mode: 0o644,
            link: b"",
        }
    }
}

fn raw_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
    entries
        .iter()
        .fold(RawTar::new(), |tar, entry| {
            let size = entry.contents.len() as u64;
            let header = linked_header(
                Format::Ustar,
                entry.path,
                entry.kind.as_byte(),
                size,
                entry.mode,
                entry.link,
            );
            tar.raw(&header).data(entry.contents)
        })
        .finish()
}

/// A publish of `bad/1.0.0` whose tarball holds `entries` (paths relative to nothing).
fn with_entries(entries: &[RawEntry<'_>]) -> Vec<u8> {
    frame(
        metadata_json("bad", "1.0.0").to_string().as_bytes(),
        &gzip(&raw_tar(entries)),
    )
}

struct Case {
    what: &'static str,
    body: Vec<u8>,
    status: u16,
    needle: &'static str,
}

#[expect(
    clippy::too_many_lines,
    reason = "one table of cases reads best in one place"
)]
fn cases() -> Vec<Case> {
    let good_manifest = manifest("bad", "1.0.0");
    let m = good_manifest.as_bytes();
    let mut cases = Vec::new();
    let mut push = |what, body, status, needle| {
        cases.push(Case {
            what,
            body,
            status,
            needle,
        });
    };

    let good = publish_body("bad", "1.0.0");
    push(
        "body shorter than declared",
        good[..good.len() - 10].to_vec(),
        400,
        "MalformedFrame",
    );
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"junk");
    push(
        "trailing bytes after the crate",
        trailing,
        400,
        "MalformedFrame",
    );
    push(
        "metadata not an object",
        frame(b"[1,2]", &crate_tarball("bad", "1.0.0")),
        400,
        "InvalidMetadata",
    );
    let dup = r#"{"name":"bad","name":"bad","vers":"1.0.0","deps":[],"features":{}}"#;
    push(
        "duplicate metadata keys",
        frame(dup.as_bytes(), &crate_tarball("bad", "1.0.0")),
        400,
        "InvalidMetadata",
    );
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(metadata_json("bad", "1.0.0").to_string().as_bytes());
    push(
        "metadata with a BOM",
        frame(&bom, &crate_tarball("bad", "1.0.0")),
        400,
        "InvalidMetadata",
    );
    push(
        "not gzip",
        frame(
            metadata_json("bad", "1.0.0").to_string().as_bytes(),
            b"plain bytes",
        ),
        400,
        "MalformedTarball",
    );
    let mut garbage = crate_tarball("bad", "1.0.0");
    garbage.extend_from_slice(b"garbage after the gzip member");
    push(
        "gzip with trailing garbage",
        frame(
            metadata_json("bad", "1.0.0").to_string().as_bytes(),
            &garbage,
        ),
        400,
        "MalformedTarball",
    );
    let mut two_members = crate_tarball("bad", "1.0.0");
    two_members.extend_from_slice(&crate_tarball("bad", "1.0.0"));
    push(
        "concatenated gzip members",
        frame(
            metadata_json("bad", "1.0.0").to_string().as_bytes(),
            &two_members,
        ),
        400,
        "MalformedTarball",
    );
    push(
        "entry outside name-vers/",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("other/x.rs", b""),
        ]),
        400,
        "InvalidPath",
    );
    push(
        "parent directory in a path",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("bad-1.0.0/../../etc/x", b""),
        ]),
        400,
        "InvalidPath",
    );
    push(
        "absolute path",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("/etc/passwd", b""),
        ]),
        400,
        "InvalidPath",
    );
    push(
        "backslash in a path",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("bad-1.0.0\\src\\x.rs", b""),
        ]),
        400,
        "InvalidPath",
    );
    push(
        "symlink",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry {
                path: b"bad-1.0.0/src/lib.rs",
                contents: b"",
                kind: tar::EntryType::Symlink,
                mode: 0o777,
                link: b"/etc/passwd",
            },
        ]),
        400,
        "UnexpectedEntry",
    );
    push(
        "hard link",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry {
                path: b"bad-1.0.0/src/lib.rs",
                contents: b"",
                kind: tar::EntryType::Link,
                mode: 0o644,
                link: b"bad-1.0.0/Cargo.toml",
            },
        ]),
        400,
        "UnexpectedEntry",
    );
    push(
        "FIFO",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry {
                path: b"bad-1.0.0/pipe",
                contents: b"",
                kind: tar::EntryType::Fifo,
                mode: 0o644,
                link: b"",
            },
        ]),
        400,
        "UnexpectedEntry",
    );
    push(
        "same path twice",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("bad-1.0.0/src/lib.rs", b""),
            RawEntry::file("bad-1.0.0/src/lib.rs", b"x"),
        ]),
        400,
        "DuplicatePath",
    );
    push(
        "paths equal ignoring case",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("bad-1.0.0/src/lib.rs", b""),
            RawEntry::file("bad-1.0.0/src/Lib.rs", b""),
        ]),
        400,
        "DuplicatePath",
    );
    push(
        "Windows-reserved file name",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("bad-1.0.0/src/aux.rs", b""),
        ]),
        400,
        "ReservedPath",
    );
    push(
        ".cargo-ok present",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry::file("bad-1.0.0/.cargo-ok", b"ok"),
        ]),
        400,
        ".cargo-ok",
    );
    push(
        "setuid mode",
        with_entries(&[
            RawEntry::file("bad-1.0.0/Cargo.toml", m),
            RawEntry {
                mode: 0o4755,
                ..RawEntry::file("bad-1.0.0/run.sh", b"")
            },
        ]),
        400,
        "mode",
    );
    push(
        "missing Cargo.toml",
        with_entries(&[RawEntry::file("bad-1.0.0/src/lib.rs", b"")]),
        400,
        "InvalidManifest",
    );
    push(
        "invalid TOML",
        with_entries(&[RawEntry::file("bad-1.0.0/Cargo.toml", b"[package\nname=")]),
        400,
        "InvalidManifest",
    );
    push(
        "[patch] in the manifest",
        with_entries(&[RawEntry::file(
            "bad-1.0.0/Cargo.toml",
            format!("{good_manifest}[patch.crates-io]\nx = {{ path = \"x\" }}\n").as_bytes(),
        )]),
        400,
        "InvalidManifest",
    );
    push(
        "manifest name differs",
        with_entries(&[RawEntry::file(
            "bad-1.0.0/Cargo.toml",
            manifest("other", "1.0.0").as_bytes(),
        )]),
        400,
        "ManifestMismatch",
    );
    push(
        "manifest version differs",
        with_entries(&[RawEntry::file(
            "bad-1.0.0/Cargo.toml",
            manifest("bad", "2.0.0").as_bytes(),
        )]),
        400,
        "ManifestMismatch",
    );
    push(
        "name with a leading digit",
        publish_body("1bad", "1.0.0"),
        400,
        "1bad",
    );
    push(
        "non-ASCII name",
        publish_body("b\u{0430}d", "1.0.0"),
        400,
        "InvalidName",
    );
    push(
        "reserved name",
        publish_body("std", "1.0.0"),
        400,
        "reserved",
    );
    push(
        "Windows device name",
        publish_body("nul", "1.0.0"),
        400,
        "reserved",
    );
    push("version not semver", publish_body("bad", "1.0"), 400, "1.0");
    push(
        "already published version",
        publish_body("seed-crate", "1.0.0"),
        409,
        "already",
    );
    push(
        "version differing only by build metadata",
        publish_body("seed-crate", "1.0.0+other"),
        409,
        "already",
    );
    push(
        "canonical name clash",
        publish_body("Seed_Crate", "2.0.0"),
        409,
        "seed-crate",
    );
    let mut star = metadata_json("bad", "1.0.0");
    star["deps"] = serde_json::json!([{"name":"serde","version_req":"*","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}]);
    push(
        "`*` dependency requirement",
        frame(star.to_string().as_bytes(), &crate_tarball("bad", "1.0.0")),
        400,
        "*",
    );
    let mut feature = metadata_json("bad", "1.0.0");
    feature["features"] = serde_json::json!({"x": ["dep:nothing"]});
    push(
        "feature naming an unknown dependency",
        frame(
            feature.to_string().as_bytes(),
            &crate_tarball("bad", "1.0.0"),
        ),
        400,
        "nothing",
    );
    let mut license = metadata_json("bad", "1.0.0");
    license["license"] = serde_json::json!("MIT OR Nope-1.0");
    push(
        "license that is not an SPDX expression",
        frame(
            license.to_string().as_bytes(),
            &crate_tarball("bad", "1.0.0"),
        ),
        400,
        "`Nope-1.0`",
    );
    cases
}

/// Sends only the headers of a publish of `size` bytes with `Expect: 100-continue` and returns
/// the status and body of the answer.
fn oversized_upload(registry: &TestRegistry, size: u64) -> TestResult<(u16, String)> {
    use std::io::Read;
    let addr = registry.url().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr)?;
    write!(
        stream,
        "PUT /api/v1/crates/new HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nContent-Length: {size}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        registry.admin_token
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, answer))
}

#[test]
fn rejected_publishes_change_nothing() -> TestResult {
    let registry = TestRegistry::start();
    let http = registry.http();
    let url = format!("{}/api/v1/crates/new", registry.url());
    let seeded = http
        .put(&url)
        .header("Authorization", &registry.admin_token)
        .body(publish_body("seed-crate", "1.0.0"))
        .send()?;
    assert_eq!(seeded.status(), 200, "{}", seeded.text()?);

    let read_only = registry.create_token("reader", &["read"]);
    let before = registry.data_snapshot();
    let mut failures = Vec::new();
    for case in cases() {
        let response = http
            .put(&url)
            .header("Authorization", &registry.admin_token)
            .body(case.body)
            .send()?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().unwrap_or_default();
        let detail = body["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != case.status || !detail.contains(case.needle) || detail.len() < 10 {
            failures.push(format!(
                "{}: got {status} {detail:?}, want {} containing {:?}",
                case.what, case.status, case.needle
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a rejected publish changed stored data"
    );

    // An upload over the limit is refused from its headers alone, as cargo (libcurl) sends
    // `Expect: 100-continue` for large bodies: the body is never read.
    let (status, detail) = oversized_upload(&registry, 12 * 1024 * 1024)?;
    assert_eq!(status, 413, "{detail}");
    assert!(detail.contains("10485760"), "{detail}");

    // Missing and bad tokens are refused before anything is stored.
    let anonymous = http.put(&url).body(publish_body("fresh", "1.0.0")).send()?;
    assert_eq!(anonymous.status(), 401);
    let bad = http
        .put(&url)
        .header("Authorization", "wharf_bogus")
        .body(publish_body("fresh", "1.0.0"))
        .send()?;
    assert_eq!(bad.status(), 403);
    let scoped = http
        .put(&url)
        .header("Authorization", &read_only)
        .body(publish_body("fresh", "1.0.0"))
        .send()?;
    assert_eq!(scoped.status(), 403);
    assert!(scoped.text()?.contains("publish-new"));
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused token changed stored data"
    );
    Ok(())
}

//! Refused publishes, entry paths: location, traversal, encoding, portability
//! and collisions.

use wharf_index_format::{PublishLimits, ValidatedTarball, validate_tarball};

use crate::support::raw_tar::{Format, RawTar, header};
use crate::support::{CrateBuilder, assert_rejected, gzip, manifest};

const NAME: &str = "demo";
const VERS: &str = "1.0.0";

fn validate(crate_bytes: &[u8]) -> Result<ValidatedTarball, wharf_index_format::FormatError> {
    validate_tarball(crate_bytes, NAME, VERS, &PublishLimits::default())
}

/// A crate whose manifest is fine and which also holds a file at the raw path `path`.
fn with_file_at(path: &[u8]) -> Vec<u8> {
    let tar = RawTar::new()
        .file("demo-1.0.0/Cargo.toml", &manifest(NAME, VERS))
        .entry(path, b'0', 0o644, b"payload")
        .finish();
    gzip(&tar)
}

/// The same, with the path carried by a PAX `path` record (for bytes a ustar name cannot hold).
fn with_pax_path(path: &[u8]) -> Vec<u8> {
    let tar = RawTar::new()
        .file("demo-1.0.0/Cargo.toml", &manifest(NAME, VERS))
        .pax(&[("path", path)])
        .raw(&header(Format::Ustar, b"demo-1.0.0/", b'0', 0, 0o644))
        .finish();
    gzip(&tar)
}

#[test]
fn entries_outside_the_package_directory() {
    assert_rejected(
        validate(&with_file_at(b"other-1.0.0/src/lib.rs")),
        "InvalidPath",
        "outside `demo-1.0.0/`",
    );
    assert_rejected(
        validate(&with_file_at(b"demo-1.0.1/src/lib.rs")),
        "InvalidPath",
        "`demo-1.0.1/src/lib.rs`",
    );
    assert_rejected(
        validate(&with_file_at(b"README.md")),
        "InvalidPath",
        "`README.md`",
    );
}

#[test]
fn parent_directory_components() {
    assert_rejected(
        validate(&with_file_at(b"demo-1.0.0/../../.bashrc")),
        "InvalidPath",
        "demo-1.0.0/../../.bashrc",
    );
    assert_rejected(
        validate(&with_file_at(b"../demo-1.0.0/x")),
        "InvalidPath",
        "../demo-1.0.0/x",
    );
}

#[test]
fn absolute_paths() {
    assert_rejected(
        validate(&with_file_at(b"/etc/x")),
        "InvalidPath",
        "`/etc/x` in the .crate: it is absolute",
    );
}

#[test]
fn windows_drive_and_backslash_paths() {
    assert_rejected(
        validate(&with_file_at(b"C:\\x")),
        "InvalidPath",
        "backslash",
    );
    assert_rejected(
        validate(&with_file_at(b"demo-1.0.0\\src\\lib.rs")),
        "InvalidPath",
        "backslash",
    );
    assert_rejected(
        validate(&with_file_at(b"C:/demo-1.0.0/x")),
        "InvalidPath",
        "`C:/demo-1.0.0/x`",
    );
}

#[test]
fn nul_bytes_in_a_path() {
    assert_rejected(
        validate(&with_pax_path(b"demo-1.0.0/a\0b.rs")),
        "InvalidPath",
        "NUL",
    );
    let tar = RawTar::new()
        .file("demo-1.0.0/Cargo.toml", &manifest(NAME, VERS))
        .long_name(b"demo-1.0.0/src/\0lib.rs")
        .file("demo-1.0.0/src/", "")
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "InvalidPath",
        "demo-1.0.0/src/\\0lib.rs",
    );
}

#[test]
fn non_utf8_paths() {
    let err = assert_rejected(
        validate(&with_file_at(b"demo-1.0.0/caf\xe9.rs")),
        "InvalidPath",
        "not UTF-8",
    );
    assert!(err.to_string().contains("demo-1.0.0/caf\\xe9.rs"), "{err}");
    assert_rejected(
        validate(&with_pax_path(b"demo-1.0.0/\xff\xfe")),
        "InvalidPath",
        "\\xff\\xfe",
    );
}

#[test]
fn windows_reserved_file_names() {
    for name in ["aux.rs", "con", "nul.txt", "COM1.md", "lpt3", "prn.rs"] {
        let krate = CrateBuilder::standard(NAME, VERS)
            .file(&format!("src/{name}"), "")
            .build();
        let err = assert_rejected(
            validate(&krate),
            "ReservedPath",
            &format!("demo-1.0.0/src/{name}"),
        );
        assert!(err.to_string().contains("Windows device name"), "{err}");
    }
}

#[test]
fn characters_windows_refuses() {
    for c in [':', '*', '?', '"', '<', '>', '|'] {
        let path = format!("demo-1.0.0/src/a{c}b.rs");
        let err = assert_rejected(
            validate(&with_file_at(path.as_bytes())),
            "ReservedPath",
            &format!("`{c}`"),
        );
        assert!(err.to_string().contains(&path), "{err}");
    }
}

#[test]
fn the_same_path_twice() {
    let krate = CrateBuilder::standard(NAME, VERS)
        .file("src/lib.rs", "pub fn evil() {}")
        .build();
    let err = assert_rejected(validate(&krate), "DuplicatePath", "demo-1.0.0/src/lib.rs");
    assert!(
        err.to_string().contains("the same path appears twice"),
        "{err}"
    );
}

#[test]
fn paths_equal_ignoring_case() {
    let krate = CrateBuilder::standard(NAME, VERS)
        .file("src/Lib.rs", "")
        .build();
    let err = assert_rejected(
        validate(&krate),
        "DuplicatePath",
        "`demo-1.0.0/src/Lib.rs` collides with `demo-1.0.0/src/lib.rs`",
    );
    assert!(err.to_string().contains("letter case"), "{err}");
}

#[test]
fn paths_equal_after_unicode_normalisation() {
    let krate = CrateBuilder::standard(NAME, VERS)
        .file("src/caf\u{e9}.rs", "")
        .file("src/cafe\u{301}.rs", "")
        .build();
    let err = assert_rejected(validate(&krate), "DuplicatePath", "cafe\u{301}.rs");
    assert!(err.to_string().contains("Unicode normalisation"), "{err}");
}

#[test]
fn a_file_that_is_also_a_directory() {
    let krate = CrateBuilder::standard(NAME, VERS).file("src", "").build();
    assert_rejected(
        validate(&krate),
        "DuplicatePath",
        "one is a file, the other a directory",
    );
}

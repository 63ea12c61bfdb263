//! Refused publishes: compression, sizes, entry types, PAX / GNU headers, modes
//! and cargo's special files. Every tarball is built in memory, byte for byte.

use wharf_index_format::{PublishLimits, ValidatedTarball, validate_tarball};

use crate::support::raw_tar::{Format, RawTar, header};
use crate::support::{CrateBuilder, assert_rejected, gzip, manifest};

const NAME: &str = "demo";
const VERS: &str = "1.0.0";

fn validate(crate_bytes: &[u8]) -> Result<ValidatedTarball, wharf_index_format::FormatError> {
    validate_tarball(crate_bytes, NAME, VERS, &PublishLimits::default())
}

/// A valid start (the manifest) to which each test adds its bad entry.
fn with_manifest() -> RawTar {
    RawTar::new().file("demo-1.0.0/Cargo.toml", &manifest(NAME, VERS))
}

#[test]
fn the_raw_builder_makes_acceptable_crates() {
    let tar = with_manifest().file("demo-1.0.0/src/lib.rs", "").finish();
    assert_eq!(validate(&gzip(&tar)).unwrap().entries.len(), 2);
}

#[test]
fn not_gzip() {
    let tar = with_manifest().finish();
    assert_rejected(validate(&tar), "MalformedTarball", "not gzip");
}

#[test]
fn gzip_with_trailing_garbage() {
    let mut krate = CrateBuilder::standard(NAME, VERS).build();
    krate.extend_from_slice(b"\0\0garbage");
    assert_rejected(
        validate(&krate),
        "MalformedTarball",
        "trailing bytes after the gzip stream (9 bytes)",
    );
}

#[test]
fn concatenated_gzip_members() {
    let mut krate = CrateBuilder::standard(NAME, VERS).build();
    krate.extend(gzip(b"second member"));
    assert_rejected(validate(&krate), "MalformedTarball", "a second gzip member");
}

#[test]
fn decompressed_size_beyond_twenty_times_the_upload() {
    let krate = CrateBuilder::standard(NAME, VERS)
        .file_with_mode("zeros.bin", &vec![0; 4 << 20], 0o644)
        .build();
    // Small crates are exempt from the ratio rule up to a size; lower it to keep this fast.
    let limits = PublishLimits {
        ratio_exempt_bytes: 1 << 20,
        ..PublishLimits::default()
    };
    let err = assert_rejected(
        validate_tarball(&krate, NAME, VERS, &limits),
        "TooLarge",
        "20×",
    );
    assert!(
        err.to_string()
            .contains(&format!("the {}-byte .crate", krate.len())),
        "{err}"
    );
    assert!(
        validate(&krate).is_ok(),
        "4 MiB unpacked is under the default exemption"
    );
}

#[test]
fn decompressed_size_beyond_the_absolute_limit() {
    let krate = CrateBuilder::standard(NAME, VERS)
        .file("big.txt", &"x".repeat(70_000))
        .build();
    let limits = PublishLimits {
        max_unpacked_bytes: 64 * 1024,
        max_compression_ratio: 10_000,
        ..PublishLimits::default()
    };
    assert_rejected(
        validate_tarball(&krate, NAME, VERS, &limits),
        "TooLarge",
        "65536 bytes",
    );
}

#[test]
fn more_entries_than_allowed() {
    let mut builder = CrateBuilder::standard(NAME, VERS);
    for i in 0..20 {
        builder = builder.file(&format!("src/m{i}.rs"), "");
    }
    let limits = PublishLimits {
        max_entries: 10,
        ..PublishLimits::default()
    };
    assert_rejected(
        validate_tarball(&builder.build(), NAME, VERS, &limits),
        "TooManyEntries",
        "more than 10 entries",
    );
}

#[test]
fn symlinks_and_hardlinks() {
    for (typeflag, kind) in [(b'2', "symlink"), (b'1', "hardlink")] {
        let tar = with_manifest()
            .entry(b"demo-1.0.0/.cargo-ok", typeflag, 0o777, b"")
            .finish();
        let err = assert_rejected(
            validate(&gzip(&tar)),
            "UnexpectedEntry",
            "demo-1.0.0/.cargo-ok",
        );
        assert!(err.to_string().contains(kind), "{err}");
    }
}

#[test]
fn devices_fifos_and_other_types() {
    for (typeflag, kind) in [
        (b'3', "character device"),
        (b'4', "block device"),
        (b'6', "FIFO"),
        (b'7', "contiguous file"),
        (b'V', "GNU volume label"),
        (b'Z', "unknown type `Z`"),
    ] {
        let tar = with_manifest()
            .entry(b"demo-1.0.0/dev", typeflag, 0o644, b"")
            .finish();
        let err = assert_rejected(validate(&gzip(&tar)), "UnexpectedEntry", "demo-1.0.0/dev");
        assert!(err.to_string().contains(kind), "{err} should say {kind}");
    }
}

#[test]
fn gnu_sparse_entries() {
    let tar = with_manifest()
        .entry(b"demo-1.0.0/sparse.bin", b'S', 0o644, b"")
        .finish();
    assert_rejected(validate(&gzip(&tar)), "UnexpectedEntry", "GNU sparse");
    let tar = with_manifest()
        .pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
        .raw(&header(
            Format::Ustar,
            b"demo-1.0.0/sparse.bin",
            b'0',
            0,
            0o644,
        ))
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "UnexpectedEntry",
        "demo-1.0.0/sparse.bin",
    );
}

#[test]
fn pax_global_headers() {
    let tar = RawTar::new()
        .raw(&header(Format::Ustar, b"pax_global_header", b'g', 0, 0o644))
        .file("demo-1.0.0/Cargo.toml", &manifest(NAME, VERS))
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "UnexpectedEntry",
        "PAX global header",
    );
}

#[test]
fn pax_size_different_from_the_ustar_size() {
    // TARmageddon: a reader honouring the PAX size and one honouring the header size would
    // see different entries after this one.
    let hidden = header(Format::Ustar, b"demo-1.0.0/build.rs", b'0', 0, 0o644);
    let tar = with_manifest()
        .pax(&[("size", b"1024")])
        .raw(&header(
            Format::Ustar,
            b"demo-1.0.0/src/lib.rs",
            b'0',
            0,
            0o644,
        ))
        .raw(&hidden)
        .finish();
    let err = assert_rejected(
        validate(&gzip(&tar)),
        "SizeMismatch",
        "demo-1.0.0/src/lib.rs",
    );
    assert!(
        err.to_string()
            .contains("size `1024` but the tar header says 0"),
        "{err}"
    );
}

#[test]
fn malformed_pax_records() {
    for (records, reason) in [
        (&b"99 path=x\n"[..], "does not fit"),
        (b"11 path=abc", "does not end in a newline"),
        (b"path=abc\n", "does not start with"),
        (b"010 path=a\n", "not a decimal number"),
    ] {
        let tar = with_manifest()
            .pax_raw(records)
            .raw(&header(
                Format::Ustar,
                b"demo-1.0.0/src/lib.rs",
                b'0',
                0,
                0o644,
            ))
            .finish();
        let err = assert_rejected(validate(&gzip(&tar)), "MalformedPax", "PaxHeaders/entry");
        assert!(
            err.to_string().contains(reason),
            "{err} should say {reason}"
        );
    }
}

#[test]
fn pax_keys_that_change_meaning() {
    let tar = with_manifest()
        .pax(&[("linkpath", b"/etc/passwd")])
        .raw(&header(
            Format::Ustar,
            b"demo-1.0.0/src/lib.rs",
            b'0',
            0,
            0o644,
        ))
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedPax",
        "unsupported PAX key `linkpath`",
    );
    let tar = with_manifest()
        .pax(&[("hdrcharset", b"BINARY")])
        .raw(&header(
            Format::Ustar,
            b"demo-1.0.0/src/lib.rs",
            b'0',
            0,
            0o644,
        ))
        .finish();
    assert_rejected(validate(&gzip(&tar)), "MalformedPax", "`hdrcharset`");
}

#[test]
fn pax_path_that_disagrees_with_the_header_name() {
    let tar = with_manifest()
        .pax(&[("path", b"demo-1.0.0/src/lib.rs")])
        .raw(&header(
            Format::Ustar,
            b"demo-1.0.0/build.rs",
            b'0',
            0,
            0o644,
        ))
        .finish();
    let err = assert_rejected(
        validate(&gzip(&tar)),
        "MalformedPax",
        "demo-1.0.0/src/lib.rs",
    );
    assert!(err.to_string().contains("`demo-1.0.0/build.rs`"), "{err}");
}

#[test]
fn gnu_long_name_that_disagrees_with_the_header_name() {
    let tar = with_manifest()
        .long_name(b"demo-1.0.0/src/lib.rs")
        .file("demo-1.0.0/build.rs", "")
        .finish();
    let err = assert_rejected(
        validate(&gzip(&tar)),
        "MalformedPax",
        "demo-1.0.0/src/lib.rs",
    );
    assert!(
        err.to_string()
            .contains("does not continue the header's name `demo-1.0.0/build.rs`"),
        "{err}"
    );
}

#[test]
fn gnu_long_name_together_with_a_pax_path() {
    // The `tar` crate prefers the long name, GNU tar the PAX path.
    let tar = with_manifest()
        .long_name(b"demo-1.0.0/src/lib.rs")
        .pax(&[("path", b"demo-1.0.0/src/main.rs")])
        .raw(&header(Format::Gnu, b"demo-1.0.0/src/", b'0', 0, 0o644))
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedPax",
        "both a GNU long name and a PAX path",
    );
}

#[test]
fn repeated_or_dangling_extended_headers() {
    let tar = with_manifest()
        .long_name(b"demo-1.0.0/a")
        .long_name(b"demo-1.0.0/b")
        .file("demo-1.0.0/b", "")
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedPax",
        "two GNU long-name headers in a row",
    );
    let tar = with_manifest()
        .pax(&[("path", b"demo-1.0.0/x")])
        .pax(&[("path", b"demo-1.0.0/x")])
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedPax",
        "two PAX headers in a row",
    );
    let tar = with_manifest().long_name(b"demo-1.0.0/a").finish();
    assert_rejected(validate(&gzip(&tar)), "MalformedPax", "describes no entry");
    let tar = with_manifest()
        .pax(&[("size", b"0")])
        .long_name(b"demo-1.0.0/a")
        .file("demo-1.0.0/a", "")
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedPax",
        "a GNU long-name header after a PAX header",
    );
}

#[test]
fn a_header_size_beyond_the_end_of_the_archive() {
    let tar = with_manifest()
        .raw(&header(
            Format::Gnu,
            b"demo-1.0.0/src/lib.rs",
            b'0',
            4096,
            0o644,
        ))
        .data(b"short")
        .unfinished();
    assert_rejected(
        validate(&gzip(&tar)),
        "SizeMismatch",
        "demo-1.0.0/src/lib.rs",
    );
}

#[test]
fn a_directory_entry_with_data() {
    let tar = with_manifest()
        .entry(b"demo-1.0.0/src/", b'5', 0o755, b"hidden")
        .finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "SizeMismatch",
        "a directory entry declares 6 bytes",
    );
}

#[test]
fn a_header_with_a_bad_checksum() {
    let mut bad = header(Format::Gnu, b"demo-1.0.0/src/lib.rs", b'0', 0, 0o644);
    bad[0] = b'D';
    let tar = with_manifest().raw(&bad).finish();
    assert_rejected(validate(&gzip(&tar)), "MalformedTarball", "checksum");
}

#[test]
fn a_pre_posix_header_without_magic() {
    let mut old = header(Format::Gnu, b"demo-1.0.0/src/lib.rs", b'0', 0, 0o644);
    old[257..265].fill(0);
    let mut with_sum = tar::Header::new_old();
    with_sum.as_mut_bytes().copy_from_slice(&old);
    with_sum.set_cksum();
    let tar = with_manifest().raw(with_sum.as_bytes()).finish();
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedTarball",
        "neither ustar nor GNU",
    );
}

#[test]
fn data_after_the_end_of_archive_marker() {
    let mut tar = with_manifest().finish();
    tar.extend_from_slice(&header(Format::Gnu, b"demo-1.0.0/build.rs", b'0', 0, 0o644));
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedTarball",
        "data after the end-of-archive marker",
    );
    let tar = with_manifest().unfinished();
    assert_rejected(
        validate(&gzip(&tar)),
        "MalformedTarball",
        "without the two zero blocks",
    );
}

#[test]
fn setuid_setgid_sticky_and_world_writable_modes() {
    for mode in [0o4755, 0o2755, 0o1755, 0o666, 0o777] {
        let krate = CrateBuilder::standard(NAME, VERS)
            .file_with_mode("run.sh", b"", mode)
            .build();
        let err = assert_rejected(validate(&krate), "UnsafeMode", "demo-1.0.0/run.sh");
        assert!(err.to_string().contains(&format!("{mode:#o}")), "{err}");
    }
}

#[test]
fn cargo_ok_present_at_all() {
    let krate = CrateBuilder::standard(NAME, VERS)
        .file(".cargo-ok", "{\"v\":1}")
        .build();
    assert_rejected(validate(&krate), "ReservedPath", "demo-1.0.0/.cargo-ok");
    let krate = CrateBuilder::standard(NAME, VERS)
        .file(".Cargo-OK", "")
        .build();
    assert_rejected(validate(&krate), "ReservedPath", "demo-1.0.0/.Cargo-OK");
}

#[test]
fn cargo_vcs_info_that_is_not_a_regular_file() {
    let tar = with_manifest()
        .entry(b"demo-1.0.0/.cargo_vcs_info.json/", b'5', 0o755, b"")
        .finish();
    let err = assert_rejected(
        validate(&gzip(&tar)),
        "ReservedPath",
        "demo-1.0.0/.cargo_vcs_info.json",
    );
    assert!(err.to_string().contains("must be a regular file"), "{err}");
    let tar = with_manifest()
        .entry(b"demo-1.0.0/.cargo_vcs_info.json", b'2', 0o777, b"")
        .finish();
    assert_rejected(validate(&gzip(&tar)), "UnexpectedEntry", "symlink");
}

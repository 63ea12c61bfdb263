//! `.crate` files built the way `cargo package` builds them.

use std::io::Write;
use std::path::Path;

use flate2::{Compression, write::GzEncoder};

use crate::SupportError;

/// The modification time `cargo package` gives every entry (2006-07-24, the date cargo
/// uses for reproducible packages), in seconds since the Unix epoch.
pub const CARGO_MTIME: u64 = 1_153_704_088;

/// Gzip-compresses `data` as one member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(data)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// The `Cargo.toml` cargo writes into a package for `name`/`version` (normalised form), with
/// the description and license [`crate::metadata_json`] announces.
pub fn manifest(name: &str, version: &str) -> String {
    format!(
        "[package]\nedition = \"2021\"\nname = \"{name}\"\nversion = \"{version}\"\nbuild = false\ndescription = \"test\"\nlicense = \"MIT\"\n\n[lib]\nname = \"{lib}\"\npath = \"src/lib.rs\"\n",
        lib = name.replace('-', "_")
    )
}

/// The `.crate` of a small library as `cargo package` makes it ([`CrateBuilder::standard`]).
pub fn crate_tarball(name: &str, version: &str) -> Vec<u8> {
    CrateBuilder::standard(name, version).build()
}

/// A `.crate` built the way cargo builds one: GNU headers written by the `tar` crate's
/// `Builder`, everything under `name-version/`, mode 0644 unless given, and one modification
/// time ([`CARGO_MTIME`] unless given).
#[derive(Debug, Clone)]
pub struct CrateBuilder {
    root: String,
    files: Vec<(String, Vec<u8>, u32)>,
    mtime: u64,
}

impl CrateBuilder {
    /// An empty crate for `name`/`version`.
    pub fn empty(name: &str, version: &str) -> Self {
        Self {
            root: format!("{name}-{version}"),
            files: Vec::new(),
            mtime: CARGO_MTIME,
        }
    }

    /// The files `cargo package` writes for a small library: `.cargo_vcs_info.json`, the
    /// normalised `Cargo.toml` ([`manifest`]), `Cargo.toml.orig` and `src/lib.rs`.
    pub fn standard(name: &str, version: &str) -> Self {
        Self::empty(name, version)
            .file(
                ".cargo_vcs_info.json",
                "{\n  \"git\": {\n    \"sha1\": \"872fe6b777cd784d54093a407ac9f83e7fb4de5c\"\n  },\n  \"path_in_vcs\": \"\"\n}",
            )
            .file("Cargo.toml", &manifest(name, version))
            .file(
                "Cargo.toml.orig",
                &format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n"),
            )
            .file("src/lib.rs", "pub fn answer() -> u32 {\n    42\n}\n")
    }

    /// Adds a file at `root/relative` with mode 0644.
    pub fn file(self, relative: &str, contents: &str) -> Self {
        self.file_with_mode(relative, contents.as_bytes(), 0o644)
    }

    /// Adds a file with explicit bytes and mode.
    pub fn file_with_mode(mut self, relative: &str, contents: &[u8], mode: u32) -> Self {
        self.files
            .push((format!("{}/{relative}", self.root), contents.to_vec(), mode));
        self
    }

    /// Gives every entry this modification time (seconds since the Unix epoch).
    pub fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }

    /// The uncompressed tar stream, or the entry the `tar` crate refused.
    pub fn try_tar(&self) -> Result<Vec<u8>, SupportError> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents, mode) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(contents.len() as u64);
            header.set_mtime(self.mtime);
            builder
                .append_data(&mut header, Path::new(path), contents.as_slice())
                .map_err(|source| SupportError::Tarball {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(builder.into_inner().expect("writing to a Vec cannot fail"))
    }

    /// The uncompressed tar stream; panics on a path the `tar` crate refuses.
    pub fn tar(&self) -> Vec<u8> {
        self.try_tar()
            .unwrap_or_else(|e| panic!("a test crate must be buildable: {e}"))
    }

    /// The `.crate` bytes, or the entry the `tar` crate refused.
    pub fn try_build(&self) -> Result<Vec<u8>, SupportError> {
        self.try_tar().map(|tar| gzip(&tar))
    }

    /// The `.crate` bytes; panics on a path the `tar` crate refuses.
    pub fn build(&self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_crate_passes_the_registry_checks() {
        let tarball = crate_tarball("demo-pkg", "1.0.0");
        let validated = wharf_index_format::validate_tarball(
            &tarball,
            "demo-pkg",
            "1.0.0",
            &wharf_index_format::PublishLimits::default(),
        )
        .expect("a cargo-shaped crate is accepted");
        assert_eq!(validated.manifest.name, "demo-pkg");
        assert_eq!(validated.entries.len(), 4);
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        assert_eq!(crate_tarball("a", "1.0.0"), crate_tarball("a", "1.0.0"));
        assert_ne!(crate_tarball("a", "1.0.0"), crate_tarball("a", "1.0.1"));
    }

    #[test]
    fn a_refused_path_is_named() {
        let error = CrateBuilder::empty("a", "1.0.0")
            .file("../escape.rs", "")
            .try_build()
            .expect_err("the tar builder refuses `..`");
        assert!(
            error
                .to_string()
                .starts_with("cannot add `a-1.0.0/../escape.rs`"),
            "{error}"
        );
    }
}

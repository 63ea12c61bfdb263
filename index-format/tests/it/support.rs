//! Builders for real `.crate` files and publish bodies, well-formed or deliberately broken.

pub(crate) mod raw_tar;

use std::io::Write;
use std::path::Path;

use flate2::{Compression, write::GzEncoder};
use serde_json::{Value, json};
use wharf_index_format::FormatError;

/// Gzip-compresses `data` as one member.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(data)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// The manifest cargo would write for `name`/`version` (normalised form).
pub(crate) fn manifest(name: &str, version: &str) -> String {
    format!(
        "[package]\nedition = \"2021\"\nname = \"{name}\"\nversion = \"{version}\"\nbuild = false\ndescription = \"test\"\nlicense = \"MIT\"\n\n[lib]\nname = \"{lib}\"\npath = \"src/lib.rs\"\n",
        lib = name.replace('-', "_")
    )
}

/// A `.crate` built the way cargo builds one: GNU headers written by the `tar` crate's
/// `Builder`, mode 0644, everything under `name-version/`.
pub(crate) struct CrateBuilder {
    root: String,
    files: Vec<(String, Vec<u8>, u32)>,
}

impl CrateBuilder {
    /// An empty crate for `name`/`version`.
    pub(crate) fn empty(name: &str, version: &str) -> Self {
        Self {
            root: format!("{name}-{version}"),
            files: Vec::new(),
        }
    }

    /// The files `cargo package` writes for a small library.
    pub(crate) fn standard(name: &str, version: &str) -> Self {
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
    pub(crate) fn file(self, relative: &str, contents: &str) -> Self {
        self.file_with_mode(relative, contents.as_bytes(), 0o644)
    }

    /// Adds a file with explicit bytes and mode.
    pub(crate) fn file_with_mode(mut self, relative: &str, contents: &[u8], mode: u32) -> Self {
        self.files
            .push((format!("{}/{relative}", self.root), contents.to_vec(), mode));
        self
    }

    /// The uncompressed tar stream.
    pub(crate) fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents, mode) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(contents.len() as u64);
            header.set_mtime(1_153_704_088);
            builder
                .append_data(&mut header, Path::new(path), contents.as_slice())
                .expect("the test paths are valid for the tar builder");
        }
        builder.into_inner().expect("writing to a Vec cannot fail")
    }

    /// The `.crate` bytes.
    pub(crate) fn build(&self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

/// Publish metadata in the exact shape cargo 1.95 sends, without dependencies.
pub(crate) fn metadata(name: &str, version: &str) -> Value {
    json!({
        "name": name, "vers": version, "deps": [], "features": {}, "authors": [],
        "description": "test", "documentation": null, "homepage": null, "readme": null,
        "readme_file": null, "keywords": [], "categories": [], "license": "MIT",
        "license_file": null, "repository": null, "badges": {}, "links": null,
        "rust_version": null
    })
}

/// One dependency entry as cargo sends it.
pub(crate) fn dependency(name: &str, req: &str, kind: &str) -> Value {
    json!({
        "optional": false, "default_features": true, "name": name, "features": [],
        "version_req": req, "target": null, "kind": kind
    })
}

/// `[u32 LE json_len][json][u32 LE crate_len][crate]`.
pub(crate) fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32::try_from(json.len()).unwrap().to_le_bytes());
    body.extend_from_slice(json);
    body.extend_from_slice(&u32::try_from(krate.len()).unwrap().to_le_bytes());
    body.extend_from_slice(krate);
    body
}

/// A publish body for `metadata` and `krate`.
pub(crate) fn body(metadata: &Value, krate: &[u8]) -> Vec<u8> {
    frame(metadata.to_string().as_bytes(), krate)
}

/// Asserts the error has `code` (one code per variant) and that its message names `input`.
#[track_caller]
pub(crate) fn assert_rejected<T: std::fmt::Debug>(
    result: Result<T, FormatError>,
    code: &str,
    input: &str,
) -> FormatError {
    let err = result.expect_err("the input must be refused");
    assert_eq!(err.code(), code, "wrong rejection: {err}");
    let message = err.to_string();
    assert!(message.contains(input), "`{message}` should name `{input}`");
    assert_eq!(
        err.http_status(),
        if code == "UploadTooLarge" { 413 } else { 400 }
    );
    err
}

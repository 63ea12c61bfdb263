//! Lockfiles: Cargo.lock v4 and `wharf.lock`, written from a [`Resolution`] and read back as
//! version preferences; plus the JSON listing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::{Resolution, ResolveError, RootManifest};

/// A lockfile of either format, reduced to what resolution uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lockfile {
    /// The locked packages.
    pub packages: Vec<LockedPackage>,
}

/// One `[[package]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPackage {
    /// Package name.
    pub name: String,
    /// Locked version.
    pub version: Version,
    /// Cargo.lock's `source` (absent for the root and in `wharf.lock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// SHA-256 of the package archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Dependencies as written: `name` or `name version` (Cargo.lock may add ` (source)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

#[derive(Deserialize)]
struct RawLockfile {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Serialize)]
struct WharfLockOut {
    version: u32,
    package: Vec<LockedPackage>,
}

impl Lockfile {
    /// Parses a Cargo.lock (v1 to v4) or a `wharf.lock`.
    pub fn parse(text: &str) -> Result<Self, ResolveError> {
        let raw: RawLockfile = toml::from_str(text).map_err(|e| ResolveError::InvalidLockfile {
            reason: e.to_string(),
        })?;
        Ok(Self {
            packages: raw.package,
        })
    }

    /// Reads and parses a lockfile.
    pub fn from_path(path: &Path) -> Result<Self, ResolveError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResolveError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The locked version(s) of `name`.
    pub fn versions_of(&self, name: &str) -> Vec<&Version> {
        self.packages
            .iter()
            .filter(|p| p.name == name)
            .map(|p| &p.version)
            .collect()
    }
}

/// One `[[package]]` to write: name, version, from the registry, checksum, dependencies.
type LockEntry<'a> = (
    &'a str,
    &'a Version,
    bool,
    Option<&'a str>,
    &'a [(String, Version)],
);

/// `text` as a TOML string, written as cargo's TOML writer does: names, versions, sources and
/// checksums (printable ASCII without quotes or backslashes) go between double quotes as they
/// are; anything else goes through the `toml` crate. A lock file holds thousands of these, and
/// building a `toml::Value` for each cost a twentieth of a large resolve.
fn quote(text: &str) -> String {
    if text
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'\''))
    {
        let mut quoted = String::with_capacity(text.len() + 2);
        quoted.push('"');
        quoted.push_str(text);
        quoted.push('"');
        return quoted;
    }
    toml::Value::String(text.to_owned()).to_string()
}

/// `name`, or `name version` when several versions of `name` are in the file (cargo's rule).
pub(crate) fn dependency_key(
    name: &str,
    version: &Version,
    counts: &HashMap<&str, usize>,
) -> String {
    if counts.get(name).copied().unwrap_or(0) > 1 {
        format!("{name} {version}")
    } else {
        name.to_owned()
    }
}

/// The lockfile format cargo writes for a package with this rust-version: 4 from 1.83 (and
/// without a rust-version), 3 from 1.53, 2 from 1.41, else 1.
fn lock_format(rust_version: Option<&Version>) -> u8 {
    match rust_version {
        None => 4,
        Some(rv) if *rv >= Version::new(1, 83, 0) => 4,
        Some(rv) if *rv >= Version::new(1, 53, 0) => 3,
        Some(rv) if *rv >= Version::new(1, 41, 0) => 2,
        Some(_) => 1,
    }
}

fn write_dependencies(out: &mut String, deps: &[(String, Version)], counts: &HashMap<&str, usize>) {
    let keys: Vec<String> = deps
        .iter()
        .map(|(n, v)| dependency_key(n, v, counts))
        .collect();
    write_keys(out, keys);
}

fn write_keys(out: &mut String, mut keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    keys.sort();
    keys.dedup();
    out.push_str("dependencies = [\n");
    for key in keys {
        let _ = writeln!(out, " {},", quote(&key));
    }
    out.push_str("]\n");
}

impl Resolution {
    /// `{"packages":[{"name":…,"version":…,"features":[…]},…]}`, root excluded.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Listed<'a> {
            name: &'a str,
            version: String,
            features: &'a [String],
        }
        #[derive(Serialize)]
        struct Listing<'a> {
            packages: Vec<Listed<'a>>,
        }
        let listing = Listing {
            packages: self
                .packages
                .iter()
                .map(|p| Listed {
                    name: &p.name,
                    version: p.version.to_string(),
                    features: &p.features,
                })
                .collect(),
        };
        serde_json::to_string(&listing).expect("listings always serialise")
    }

    /// A Cargo.lock for `root`, in the format cargo picks from `root`'s rust-version (4 by
    /// default, older formats for older rust-versions); `source` is the registry's source id as cargo writes it
    /// (for example `sparse+https://wharf.example/index/`).
    pub fn to_cargo_lock(&self, root: &RootManifest, source: &str) -> String {
        let mut counts = self.version_counts();
        *counts.entry(root.name.as_str()).or_default() += 1;
        let mut entries = self.lock_entries();
        entries.push((
            root.name.as_str(),
            &root.version,
            false,
            None,
            self.root_dependencies.as_slice(),
        ));
        write_cargo_lock(
            entries,
            &counts,
            lock_format(root.rust_version.as_ref()),
            source,
        )
    }

    /// A Cargo.lock for a workspace resolved by [`crate::resolve_workspace`]: members and
    /// path packages without `source`, in the format the members' lowest rust-version picks.
    pub fn to_workspace_cargo_lock(&self, workspace: &crate::Workspace, source: &str) -> String {
        let counts = self.version_counts();
        let format = lock_format(workspace.rust_version());
        write_cargo_lock(self.lock_entries(), &counts, format, source)
    }

    /// Every selected package as a Cargo.lock entry (path packages without a source).
    fn lock_entries(&self) -> Vec<LockEntry<'_>> {
        self.packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    &p.version,
                    p.path.is_none(),
                    p.checksum.as_deref(),
                    p.dependencies.as_slice(),
                )
            })
            .collect()
    }

    /// How many versions of each package name are selected: a dependency is written as
    /// `name version` only when its name has more than one.
    pub(crate) fn version_counts(&self) -> HashMap<&str, usize> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for p in &self.packages {
            *counts.entry(p.name.as_str()).or_default() += 1;
        }
        counts
    }

    /// A `wharf.lock`: name, version, checksum and dependencies of every package.
    pub fn to_wharf_lock(&self) -> String {
        let counts = self.version_counts();
        let package = self
            .packages
            .iter()
            .map(|p| {
                let mut dependencies: Vec<String> = p
                    .dependencies
                    .iter()
                    .map(|(n, v)| dependency_key(n, v, &counts))
                    .collect();
                dependencies.sort();
                LockedPackage {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    source: None,
                    checksum: p.checksum.clone(),
                    dependencies,
                }
            })
            .collect();
        let out = WharfLockOut {
            version: 1,
            package,
        };
        toml::to_string(&out).expect("lockfiles always serialise")
    }
}

/// Writes Cargo.lock `entries` in `format`, registry ones with `source`.
fn write_cargo_lock(
    mut entries: Vec<LockEntry<'_>>,
    counts: &HashMap<&str, usize>,
    format: u8,
    source: &str,
) -> String {
    entries.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));

    let mut out = String::from(
        "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\n",
    );
    if format >= 3 {
        let _ = writeln!(out, "version = {format}\n");
    }
    let mut metadata: Vec<(String, &str)> = Vec::new();
    for (name, version, from_registry, checksum, deps) in entries {
        out.push_str("[[package]]\n");
        let _ = writeln!(out, "name = {}", quote(name));
        let _ = writeln!(out, "version = {}", quote(&version.to_string()));
        if from_registry {
            let _ = writeln!(out, "source = {}", quote(source));
            match checksum {
                Some(checksum) if format == 1 => {
                    metadata.push((format!("checksum {name} {version} ({source})"), checksum));
                }
                Some(checksum) => {
                    let _ = writeln!(out, "checksum = {}", quote(checksum));
                }
                None => {}
            }
        }
        if format == 1 {
            let full: Vec<String> = deps
                .iter()
                .map(|(n, v)| format!("{n} {v} ({source})"))
                .collect();
            write_keys(&mut out, full);
        } else {
            write_dependencies(&mut out, deps, counts);
        }
        out.push('\n');
    }
    if format == 1 {
        metadata.sort();
        out.push_str("[metadata]\n");
        for (key, checksum) in metadata {
            let _ = writeln!(out, "{} = {}", quote(&key), quote(checksum));
        }
    } else {
        while out.ends_with("\n\n") {
            out.pop();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    /// The quick path writes what the `toml` crate writes, for the texts it takes.
    #[test]
    fn quote_agrees_with_the_toml_writer() {
        for text in [
            "serde",
            "1.0.229",
            "1.0.0-rc.1+build.5",
            "registry+https://github.com/rust-lang/crates.io-index",
            "4148590afebada386688f18773da617792bf2ef03ffc1e4cbd2b1d45b023e0ba",
            "checksum a 1.0.0 (registry+https://example.invalid/index)",
            "",
            " spaced ",
            "it's",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "naïve",
        ] {
            assert_eq!(
                quote(text),
                toml::Value::String(text.to_owned()).to_string(),
                "{text:?}"
            );
        }
    }
}

//! What a resolution is asked to do besides the manifest.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;

use crate::Lockfile;

/// The host API a plugin host provides: a package pinned to one exact version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPin {
    /// The host API package's name (`host-api` unless configured otherwise).
    pub name: String,
    /// The exact version the host implements.
    pub version: Version,
}

impl HostPin {
    /// The default package name of the host API.
    pub const DEFAULT_NAME: &'static str = "host-api";

    /// A pin of the default `host-api` package.
    pub fn new(version: Version) -> Self {
        Self {
            name: Self::DEFAULT_NAME.to_owned(),
            version,
        }
    }
}

/// Options of one resolution. `Default` is cargo mode with no lockfile and no rust-version
/// preference beyond the manifest's `package.rust-version`.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// The toolchain version whose `rust_version` compatibility is preferred (cargo's
    /// `fallback` policy); `None` uses the manifest's `package.rust-version` when the manifest
    /// uses resolver v3.
    pub rust_version: Option<Version>,
    /// An existing lockfile: its versions are preferred, and yanked ones stay allowed.
    pub lock: Option<Lockfile>,
    /// Plugin mode: the host API pin, added as a root requirement `=X.Y.Z`.
    pub host_api: Option<HostPin>,
    /// Packages whose locked versions are not preferred (the ones being updated).
    pub unlock: Vec<String>,
    /// Versions to choose only when no other candidate fits (deprecated versions, versions
    /// under an advisory): softer than a yank, they stay allowed. Empty by default, so
    /// library users opt in; locked versions are still preferred over them.
    pub discouraged: BTreeMap<String, BTreeSet<Version>>,
}

impl ResolveOptions {
    /// Adds `version` of `name` to [`Self::discouraged`].
    pub fn discourage(&mut self, name: impl Into<String>, version: Version) {
        self.discouraged
            .entry(name.into())
            .or_default()
            .insert(version);
    }
}

//! [`Resolver`]: one place to set a source, a host pin, a rust-version, a lock and when to
//! give up, then resolve manifests or requirements.

use std::time::{Duration, Instant};

use semver::Version;

use crate::cancel::{CancelToken, Cancellation};
use crate::resolve::resolve_with;
use crate::workspace_resolve::resolve_workspace_with;
use crate::{
    HostPin, IndexSource, Lockfile, Requirements, Resolution, ResolveError, ResolveOptions,
    RootManifest, RootOrigin, Workspace,
};

/// A configured resolver over one index source.
///
/// ```
/// use std::time::Duration;
/// use wharf_resolver::{
///     HostPin, IndexDependency, IndexEntry, MemoryIndex, Requirements, Resolver, Version,
/// };
/// let mut index = MemoryIndex::default();
/// index.add(IndexEntry::builder("host-api", "2.1.0").build().unwrap());
/// index.add(
///     IndexEntry::builder("greeter", "1.0.0")
///         .dep(IndexDependency::new("host-api", "^2"))
///         .build()
///         .unwrap(),
/// );
/// let resolver = Resolver::new(&index)
///     .host_pin(HostPin::new(Version::new(2, 1, 0)))
///     .timeout(Duration::from_secs(30));
/// let resolution = resolver
///     .resolve_requirements(&Requirements::new().require("greeter", "1"))
///     .unwrap();
/// let installed: Vec<_> = resolution.install_set().iter().map(|p| p.name.as_str()).collect();
/// assert_eq!(installed, ["greeter"]);
/// ```
#[derive(Clone)]
pub struct Resolver<'a> {
    source: &'a dyn IndexSource,
    options: ResolveOptions,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    token: Option<CancelToken>,
    rust_version_as_cargo: bool,
}

impl std::fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("options", &self.options)
            .field("deadline", &self.deadline)
            .field("timeout", &self.timeout)
            .field("token", &self.token)
            .field("rust_version_as_cargo", &self.rust_version_as_cargo)
            .finish_non_exhaustive()
    }
}

impl<'a> Resolver<'a> {
    /// Cargo mode over `source`, no lock, no deadline.
    pub fn new(source: &'a dyn IndexSource) -> Self {
        Self {
            source,
            options: ResolveOptions::default(),
            deadline: None,
            timeout: None,
            token: None,
            rust_version_as_cargo: false,
        }
    }

    /// Starts from these options (what [`crate::resolve`] takes).
    pub fn options(mut self, options: ResolveOptions) -> Self {
        self.options = options;
        self
    }

    /// Plugin mode: the host provides exactly this version of its API package.
    pub fn host_pin(mut self, pin: HostPin) -> Self {
        self.options.host_api = Some(pin);
        self
    }

    /// Prefers versions whose `rust-version` this toolchain satisfies.
    pub fn rust_version(mut self, version: Version) -> Self {
        self.options.rust_version = Some(version);
        self
    }

    /// Prefers versions as cargo does for each manifest it resolves, when no
    /// [`Self::rust_version`] is set: under resolver v3 the manifest's `rust-version` (used
    /// with or without this option), else the installed `rustc`'s
    /// ([`crate::preferred_rust_version`]); no preference under older resolvers. Requirements
    /// built in code have no manifest: set [`Self::rust_version`] for them.
    pub fn rust_version_as_cargo(mut self) -> Self {
        self.rust_version_as_cargo = true;
        self
    }

    /// Prefers the versions of this lock (yanked ones stay allowed).
    pub fn lock(mut self, lock: Lockfile) -> Self {
        self.options.lock = Some(lock);
        self
    }

    /// Chooses `version` of `package` only when no other candidate fits (a deprecated
    /// version, one under an advisory): see [`ResolveOptions::discouraged`].
    pub fn discourage(mut self, package: impl Into<String>, version: Version) -> Self {
        self.options.discourage(package, version);
        self
    }

    /// Does not prefer the locked versions of `package` (the one being updated).
    pub fn unlock(mut self, package: impl Into<String>) -> Self {
        self.options.unlock.push(package.into());
        self
    }

    /// Gives up with [`ResolveError::Cancelled`] once `deadline` has passed.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Gives up with [`ResolveError::Cancelled`] when one resolution runs longer than this
    /// (counted from the start of each `resolve` call).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Gives up with [`ResolveError::Cancelled`] once `token` is cancelled (from any thread).
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Resolves a `Cargo.toml`.
    pub fn resolve(&self, root: &RootManifest) -> Result<Resolution, ResolveError> {
        self.run(root, RootOrigin::Manifest)
    }

    /// Resolves requirements built in code; explanations speak of "the requirements you
    /// gave".
    pub fn resolve_requirements(
        &self,
        requirements: &Requirements,
    ) -> Result<Resolution, ResolveError> {
        self.run(&requirements.to_root(), RootOrigin::Requirements)
    }

    /// Resolves every member of a workspace together (see [`crate::resolve_workspace`]).
    pub fn resolve_workspace(&self, workspace: &Workspace) -> Result<Resolution, ResolveError> {
        let cancellation = self.cancellation();
        if self.rust_version_as_cargo && self.options.rust_version.is_none() {
            let mut options = self.options.clone();
            options.rust_version = crate::preferred_rust_version(&workspace.virtual_root(), None);
            return resolve_workspace_with(self.source, workspace, &options, cancellation);
        }
        resolve_workspace_with(self.source, workspace, &self.options, cancellation)
    }

    fn cancellation(&self) -> Cancellation {
        let from_timeout = self.timeout.map(|timeout| Instant::now() + timeout);
        let deadline = match (self.deadline, from_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Cancellation {
            deadline,
            token: self.token.clone(),
        }
    }

    fn run(&self, root: &RootManifest, origin: RootOrigin) -> Result<Resolution, ResolveError> {
        let cancellation = self.cancellation();
        if self.rust_version_as_cargo && self.options.rust_version.is_none() {
            let mut options = self.options.clone();
            options.rust_version = crate::preferred_rust_version(root, None);
            return resolve_with(self.source, root, &options, origin, cancellation);
        }
        resolve_with(self.source, root, &self.options, origin, cancellation)
    }
}

//! [`InstallError`]: why an install, update or remove was refused, each with a fixed code.

use std::path::PathBuf;

use wharf_resolver::NoSolution;

use crate::ClientError;

/// Everything that stops an install, update or remove. Whatever the error, the previous
/// install is still the one in use.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A request or a setting is not usable (a bad `NAME@REQ`, no index URL on a first
    /// install, ...).
    #[error("{0}")]
    InvalidRequest(String),
    /// The install directory is in use by another run.
    #[error(
        "the install directory `{}` is in use by another wharf run{}: wait for it to finish \
         and try again",
        .dir.display(),
        .holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    DirLocked {
        /// The install directory.
        dir: PathBuf,
        /// Who holds it, as it wrote itself into the lock file (`pid N`), when known.
        holder: Option<String>,
    },
    /// The index could not be read.
    #[error("cannot read the index: {0}")]
    Index(String),
    /// A requested package is not in the index.
    #[error("no package named `{package}` in the index at `{index}`: check the name")]
    NotFound {
        /// The package asked for.
        package: String,
        /// The index URL.
        index: String,
    },
    /// A package to remove or update is not installed.
    #[error("`{package}` is not installed in `{}`: `wharf list --dir` shows what is", .dir.display())]
    NotInstalled {
        /// The package named.
        package: String,
        /// The install directory.
        dir: PathBuf,
    },
    /// Some plugin needs a host API the host does not provide.
    #[error("{}", .0.render().trim_end())]
    IncompatibleHostApi(Box<NoSolution>),
    /// No set of versions satisfies the requests.
    #[error("{}", .0.render().trim_end())]
    Unresolvable(Box<NoSolution>),
    /// The resolver failed for another reason (an index line it cannot read, a cycle, ...).
    #[error("cannot resolve: {0}")]
    Resolve(String),
    /// `--locked` and the resolution differs from `wharf.lock`.
    #[error(
        "`{}` does not match what the index gives: {difference}; run without `--locked` to \
         update it",
        .lock.display()
    )]
    LockMismatch {
        /// The lock file.
        lock: PathBuf,
        /// The first difference found.
        difference: String,
    },
    /// A premium package's licence is missing or does not cover it.
    #[error("{package} {version}: {reason}")]
    LicenceRefused {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The failed check, as the registry words it.
        reason: String,
    },
    /// A chosen version is quarantined, or under a security advisory that was not allowed.
    #[error("{finding}; {hint}")]
    LifecycleRefused {
        /// What the registry's lifecycle feed says.
        finding: String,
        /// What to do.
        hint: String,
        /// `advisory` or `quarantined`.
        code: &'static str,
    },
    /// The registry's lifecycle feed is unsigned, forged or unreadable.
    #[error(
        "the lifecycle feed `{url}` cannot be trusted: {reason}; nothing was installed (ask the registry's operator, or check the pinned root key)"
    )]
    LifecycleUntrusted {
        /// The feed's (or keyset's) URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The registry's lifecycle feed is older than one the install directory has seen.
    #[error(
        "the lifecycle feed `{url}` of `{origin}` has serial {serial}, older than the serial {seen} this directory has already seen (an old feed replayed to hide newer advisories); nothing was installed (install from a registry or mirror that serves the current feed)"
    )]
    LifecycleReplayed {
        /// The feed's URL.
        url: String,
        /// The registry's origin.
        origin: String,
        /// The feed's serial.
        serial: u64,
        /// The newest serial seen for that origin.
        seen: u64,
    },
    /// A package could not be downloaded.
    #[error("cannot download {package} {version}: {source}")]
    Download {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// A downloaded package's bytes do not hash to the index's checksum.
    #[error(
        "{package} {version} from `{url}` has SHA-256 {actual} but the index says {expected}: \
         the registry's copy or the connection is corrupt; nothing was installed"
    )]
    DigestMismatch {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// Where it came from.
        url: String,
        /// The index's `cksum`.
        expected: String,
        /// The SHA-256 of the bytes received.
        actual: String,
    },
    /// The release verifier refused a package.
    #[error("the signature of {package} {version} is not valid: {reason}")]
    SignatureInvalid {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// What the verifier found.
        reason: String,
    },
    /// The release verifier could not vouch for the registry as a whole (its signed log
    /// does not verify from the pinned root key).
    #[error("cannot trust the registry at `{index}`: {reason}; nothing was installed")]
    RegistryUntrusted {
        /// The index URL.
        index: String,
        /// What the verifier found.
        reason: String,
    },
    /// A package's archive breaks the registry's tarball rules.
    #[error("refusing to unpack {package} {version}: {reason}")]
    UnpackRefused {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The rule broken.
        reason: String,
    },
    /// A file of the install directory could not be read or written.
    #[error("{action} `{}`: {source}", .path.display())]
    Io {
        /// What was being done (`cannot write`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the install directory is not what this version writes.
    #[error("`{}` is damaged: {reason}; fix or delete it", .path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl InstallError {
    /// The error's fixed code, as printed by the CLI (`error[CODE]: …`) and listed in the
    /// install documentation.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid-request",
            Self::DirLocked { .. } => "dir-locked",
            Self::Index(_) => "index-failed",
            Self::NotFound { .. } => "not-found",
            Self::NotInstalled { .. } => "not-installed",
            Self::IncompatibleHostApi(_) => "incompatible-host-api",
            Self::Unresolvable(_) | Self::Resolve(_) => "unresolvable",
            Self::LockMismatch { .. } => "lock-mismatch",
            Self::Download { .. } => "download-failed",
            Self::LicenceRefused { .. } => "licence-refused",
            Self::LifecycleRefused { code, .. } => code,
            Self::DigestMismatch { .. } => "digest-mismatch",
            Self::SignatureInvalid { .. }
            | Self::RegistryUntrusted { .. }
            | Self::LifecycleUntrusted { .. } => "signature-invalid",
            Self::LifecycleReplayed { .. } => "rollback",
            Self::UnpackRefused { .. } => "unpack-refused",
            Self::Io { .. } => "io",
            Self::Damaged { .. } => "damaged",
        }
    }

    /// The process exit code for this error: 1 refused by the rules (nothing fits, not
    /// found, lock mismatch, not installed), 2 invalid request, 3 directory locked, 4
    /// network, 5 integrity (digest, signature, archive), 6 local files.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotFound { .. }
            | Self::NotInstalled { .. }
            | Self::IncompatibleHostApi(_)
            | Self::Unresolvable(_)
            | Self::Resolve(_)
            | Self::LockMismatch { .. }
            | Self::LicenceRefused { .. }
            | Self::LifecycleRefused { .. } => 1,
            Self::InvalidRequest(_) => 2,
            Self::DirLocked { .. } => 3,
            Self::Index(_) | Self::Download { .. } => 4,
            Self::DigestMismatch { .. }
            | Self::SignatureInvalid { .. }
            | Self::RegistryUntrusted { .. }
            | Self::LifecycleUntrusted { .. }
            | Self::LifecycleReplayed { .. }
            | Self::UnpackRefused { .. } => 5,
            Self::Io { .. } | Self::Damaged { .. } => 6,
        }
    }

    /// An I/O error while doing `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

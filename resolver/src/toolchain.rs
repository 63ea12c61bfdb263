//! The toolchain version cargo prefers when it picks versions.
//!
//! With resolver v3 (edition 2024, or `resolver = "3"`) cargo prefers versions whose
//! `rust-version` the package's own `rust-version` satisfies and, when the package sets none,
//! those the installed `rustc` satisfies (`rustc -V`; `$RUSTC` when set). Older resolvers have
//! no such preference.

use std::process::Command;

use crate::{RootManifest, Version};

/// The version cargo prefers for `root`: `explicit` (cargo's `--rust-version` style override)
/// if given; otherwise, under resolver v3, the manifest's `rust-version` or else the installed
/// `rustc`'s version; `None` when there is no preference (or `rustc` cannot be asked).
///
/// [`crate::Resolver::rust_version_as_cargo`] applies it to each manifest it resolves.
///
/// ```
/// use std::path::Path;
/// use wharf_resolver::{RootManifest, Version, preferred_rust_version};
/// let text = "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.80\"\n";
/// let root = RootManifest::from_toml_str(text, Path::new("."))?;
/// assert_eq!(preferred_rust_version(&root, None), Some(Version::new(1, 80, 0)));
/// # Ok::<(), wharf_resolver::ResolveError>(())
/// ```
pub fn preferred_rust_version(root: &RootManifest, explicit: Option<&Version>) -> Option<Version> {
    if let Some(version) = explicit {
        return Some(version.clone());
    }
    if !root.resolver_v3 {
        return None;
    }
    root.rust_version.clone().or_else(installed_rustc)
}

/// The release of the `rustc` cargo would run (`$RUSTC`, else `rustc` on the `PATH`), without a
/// pre-release tag; `None` (with a warning in the log) when it cannot be asked.
pub fn installed_rustc() -> Option<Version> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = match Command::new(&rustc).arg("-vV").output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            tracing::warn!(status = %output.status, "`rustc -vV` failed; no rust-version preference");
            return None;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot run rustc; no rust-version preference");
            return None;
        }
    };
    release_of(&String::from_utf8_lossy(&output.stdout))
}

/// The `release:` line of `rustc -vV`, without a pre-release tag (a nightly `1.96.0-nightly`
/// counts as 1.96.0, as cargo counts it).
fn release_of(verbose_version: &str) -> Option<Version> {
    let release = verbose_version
        .lines()
        .find_map(|line| line.strip_prefix("release: "))?
        .trim();
    let version = Version::parse(release).ok()?;
    Some(Version::new(version.major, version.minor, version.patch))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn manifest(text: &str) -> RootManifest {
        RootManifest::from_toml_str(text, Path::new(".")).unwrap()
    }

    #[test]
    fn reads_the_release_line() {
        let text =
            "rustc 1.95.0 (abc 2026-03-21)\nbinary: rustc\nrelease: 1.95.0\nLLVM version: 20\n";
        assert_eq!(release_of(text), Some(Version::new(1, 95, 0)));
        let nightly = "rustc 1.96.0-nightly\nrelease: 1.96.0-nightly\n";
        assert_eq!(release_of(nightly), Some(Version::new(1, 96, 0)));
        assert_eq!(release_of("no release here\n"), None);
    }

    #[test]
    fn explicit_then_manifest_then_installed_rustc_under_resolver_3() {
        let v2 = manifest("[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
        let v3 = manifest("[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2024\"\n");
        let v3_pinned = manifest(
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.80\"\n",
        );
        let explicit = Version::new(1, 70, 0);
        assert_eq!(
            preferred_rust_version(&v2, Some(&explicit)),
            Some(explicit.clone())
        );
        assert_eq!(preferred_rust_version(&v2, None), None);
        assert_eq!(
            preferred_rust_version(&v3_pinned, None),
            Some(Version::new(1, 80, 0))
        );
        // The toolchain building this test is the one `rustc` finds (rust-toolchain.toml).
        let installed = preferred_rust_version(&v3, None).expect("rustc answers `-vV`");
        assert!(installed >= Version::new(1, 95, 0), "{installed}");
    }
}

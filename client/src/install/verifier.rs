//! [`ReleaseVerifier`]: the place where an install checks each release's signature before
//! anything of it is unpacked.

use wharf_resolver::IndexEntry;

/// One downloaded release, as a verifier sees it: its index line (with the registry's
/// extensions, e.g. the transparency-log leaf) and its archive, whose SHA-256 already
/// matched the line's `cksum`.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    /// The index line of the release.
    pub entry: &'a IndexEntry,
    /// The `.crate` bytes.
    pub archive: &'a [u8],
}

/// Checks each release of an install before it is unpacked. The installer calls
/// [`ReleaseVerifier::verify`] once for every package of the set (cached ones too), after
/// the SHA-256 check; an `Err` refuses the whole install with `signature-invalid` and the
/// reason given, and the previous install stays in use.
pub trait ReleaseVerifier: Send + Sync {
    /// Called once with every release of the set, before [`ReleaseVerifier::verify`] is
    /// called on each: a verifier that checks a whole set at once (against a transparency
    /// log, say) does that work here. `Err(reason)` refuses the install with
    /// `signature-invalid`, naming the registry.
    fn prepare(&self, releases: &[Release<'_>]) -> Result<(), String> {
        let _ = releases;
        Ok(())
    }

    /// `Ok` to accept the release, `Err(reason)` to refuse it.
    fn verify(&self, release: &Release<'_>) -> Result<(), String>;
}

/// The verifier used when none is configured: accepts every release (the SHA-256 check
/// against the index still applies) and says so once at `debug` level per release.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoVerifier;

impl ReleaseVerifier for NoVerifier {
    fn verify(&self, release: &Release<'_>) -> Result<(), String> {
        tracing::debug!(
            package = %release.entry.name,
            version = %release.entry.vers,
            "no release verifier configured; signature not checked"
        );
        Ok(())
    }
}

//! HTTPS for `wharf serve`: `--tls-cert`/`--tls-key` (variables `WHARF_TLS_CERT`/`WHARF_TLS_KEY`,
//! config keys `tls-cert`/`tls-key`), and reloading both files on SIGHUP.

use std::path::PathBuf;

use wharf_registry_server::Tls;

/// Loads the certificate chain and key `wharf serve` was given, if any; every problem is one
/// line naming the file.
pub(crate) fn load(files: Option<(PathBuf, PathBuf)>) -> anyhow::Result<Option<Tls>> {
    match files {
        None => Ok(None),
        Some((cert, key)) => Ok(Some(Tls::load(cert, key)?)),
    }
}

/// Reads the certificate and key again on every SIGHUP; a failed reload is logged and the
/// previous certificate stays in use. The handler is in place when this returns (so a SIGHUP
/// no longer ends the process); the reloads run on the current Tokio runtime.
pub(crate) fn reload_on_sighup(tls: Tls) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; the TLS certificate will not be reloaded");
                return;
            }
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let reloading = tls.clone();
                match tokio::task::spawn_blocking(move || reloading.reload()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::error!(
                        "TLS certificate not reloaded, still serving the previous one: {error}"
                    ),
                    Err(error) => tracing::error!(%error, "TLS certificate reload did not finish"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(tls);
}

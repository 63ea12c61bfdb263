//! HTTPS for `wharf serve`: `--tls-cert`/`--tls-key` (variables `WHARF_TLS_CERT`/`WHARF_TLS_KEY`,
//! config keys `tls-cert`/`tls-key`), and reloading both files on SIGHUP.

use std::path::PathBuf;

use clap::Args;
use wharf_registry_server::Tls;

use crate::settings::FileSettings;

/// HTTPS flags of `wharf serve`.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTPS (plain HTTP unless both are set)")]
pub(crate) struct TlsArgs {
    /// PEM certificate chain to serve HTTPS with: the server's certificate first, then any
    /// intermediate ones. Needs --tls-key. Reloaded on SIGHUP.
    #[arg(long, env = "WHARF_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the --tls-cert certificate (unencrypted). Reloaded on SIGHUP.
    #[arg(long, env = "WHARF_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Loads the certificate and key given by flags, variables or the config file, if any.
    pub(crate) fn load(self, file: &FileSettings) -> anyhow::Result<Option<Tls>> {
        let cert = self.tls_cert.or_else(|| file.tls_cert.clone());
        let key = self.tls_key.or_else(|| file.tls_key.clone());
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Tls::load(cert, key)?)),
            (Some(_), None) => anyhow::bail!(
                "`tls-cert` is set without `tls-key`; give the certificate's private key too (--tls-key, WHARF_TLS_KEY or the config key `tls-key`), or neither for plain HTTP"
            ),
            (None, Some(_)) => anyhow::bail!(
                "`tls-key` is set without `tls-cert`; give the certificate chain too (--tls-cert, WHARF_TLS_CERT or the config key `tls-cert`), or neither for plain HTTP"
            ),
        }
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

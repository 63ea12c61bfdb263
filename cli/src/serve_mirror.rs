//! `wharf serve --data DIR` on a mirror directory: a directory holding `current` (a copy
//! `wharf mirror sync` or `wharf bundle import` switched in) and no registry database is
//! served read-only, each request reading through `current`, so a finished sync is served
//! without a restart.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use wharf_registry_server::MirrorState;

use crate::serve::{bind, shutdown_signal};
use crate::serve_tls::reload_on_sighup;
use crate::settings::ServeSettings;

/// Whether `data` is a mirror directory: it holds `current` and no registry database.
pub(crate) fn is_mirror_dir(data: &Path) -> bool {
    std::fs::symlink_metadata(data.join("current")).is_ok()
        && !data.join(wharf_storage::DATABASE_FILE).exists()
}

/// Serves the mirror directory `settings.data` until SIGINT or SIGTERM.
pub(crate) fn run(settings: ServeSettings) -> anyhow::Result<ExitCode> {
    let ServeSettings {
        data,
        listen,
        public_url,
        auth_required,
        workers,
        yield_every,
        tls,
        connection_limits,
        git_index,
        ..
    } = settings;
    let shown = data.display();
    if auth_required {
        bail!(
            "`{shown}` is a mirror directory (it holds `current` and no registry database), which keeps no tokens, so `auth-required` cannot be honoured; serve it without auth-required (behind a proxy that checks access), or point --data at a registry"
        );
    }
    if git_index {
        bail!(
            "`{shown}` is a mirror directory, which has no git export; turn `git-index` off to serve it"
        );
    }
    let tls = crate::serve_tls::load(tls)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = bind(listen, workers)?.with_yield_every(yield_every);
        let server = match tls {
            Some(tls) => {
                reload_on_sighup(tls.clone());
                server.with_tls(tls)
            }
            None => server,
        };
        let addr = server.local_addr()?;
        let public_url = public_url.unwrap_or_else(|| format!("{scheme}://{addr}"));
        let state = Arc::new(MirrorState::new(
            data.clone(),
            &public_url,
            connection_limits,
        ));
        tracing::info!(%addr, data = %data.display(), "wharf serving a mirror read-only");
        let shutdown = shutdown_signal()?;
        eprintln!(
            "wharf: serving on {scheme}://{addr}  (index: sparse+{public_url}/index/; read-only mirror of {})",
            data.join("current").display()
        );
        server.run_mirror(state, shutdown).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

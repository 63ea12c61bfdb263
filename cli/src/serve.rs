//! `wharf serve`.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wharf_registry_server::{
    AppState, DEFAULT_YIELD_EVERY, PublishRateLimits, Server, ServerConfig, warm_cache,
};
use wharf_storage::{NewToken, Scope, Storage};

use crate::serve_tls::{TlsArgs, reload_on_sighup};
use crate::settings::{DEFAULT_LISTEN, FileSettings, default_data_dir, open_storage};

/// Flags of `wharf serve`. Each has a `WHARF_*` environment variable; both override `--config`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Directory for the SQLite database, blobs and index files [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long, env = "WHARF_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// URL clients reach the registry at, as written into config.json
    /// [default: `http://` (`https://` with --tls-cert) and the listen address].
    #[arg(long, env = "WHARF_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Require an API token for every index file, download and API call.
    #[arg(long, env = "WHARF_AUTH_REQUIRED")]
    auth_required: bool,
    /// HTTP worker threads, each with its own listening socket [default: one per core].
    #[arg(long, env = "WHARF_WORKERS", value_name = "N")]
    workers: Option<NonZeroUsize>,
    /// Requests a busy worker answers before it offers its core to other runnable threads
    /// (a proxy, a sidecar, clients on the same machine); 0 never offers it [default: 32].
    #[arg(long, env = "WHARF_YIELD_EVERY", value_name = "N")]
    yield_every: Option<u32>,
    /// A TOML file with any of: data, listen, public-url, auth-required, workers, yield-every,
    /// max-crate-bytes, publish-rate-per-minute, publish-burst, new-crates-per-day,
    /// publishes-per-day, versions-per-crate-per-day, tls-cert, tls-key.
    #[arg(long, env = "WHARF_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    rate_limits: RateLimitArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

/// Per-user publish limits, all off unless set. A refused publish is answered with HTTP 429,
/// `Retry-After` and the limit it hit, and changes nothing.
#[derive(Debug, Args)]
#[command(next_help_heading = "Publish rate limits (per user; off unless set)")]
struct RateLimitArgs {
    /// Publishes per minute one user may keep up; faster ones get 429 until the rate allows
    /// another.
    #[arg(long, env = "WHARF_PUBLISH_RATE_PER_MINUTE", value_name = "N")]
    publish_rate_per_minute: Option<NonZeroU32>,
    /// Publishes one user may send at once before the per-minute rate applies
    /// [default: the per-minute rate].
    #[arg(long, env = "WHARF_PUBLISH_BURST", value_name = "N")]
    publish_burst: Option<NonZeroU32>,
    /// New crates one user may create in any 24 hours (new versions are not counted).
    #[arg(long, env = "WHARF_NEW_CRATES_PER_DAY", value_name = "N")]
    new_crates_per_day: Option<NonZeroU32>,
    /// Versions one user may publish in any 24 hours, new crates included.
    #[arg(long, env = "WHARF_PUBLISHES_PER_DAY", value_name = "N")]
    publishes_per_day: Option<NonZeroU32>,
    /// Versions one crate may get in any 24 hours, from all its owners together.
    #[arg(long, env = "WHARF_VERSIONS_PER_CRATE_PER_DAY", value_name = "N")]
    versions_per_crate_per_day: Option<NonZeroU32>,
}

impl RateLimitArgs {
    /// The limits from flags and variables, falling back to the config file's keys.
    fn resolve(self, file: &FileSettings) -> anyhow::Result<PublishRateLimits> {
        let limits = PublishRateLimits {
            publish_rate_per_minute: self
                .publish_rate_per_minute
                .or(file.publish_rate_per_minute),
            publish_burst: self.publish_burst.or(file.publish_burst),
            new_crates_per_day: self.new_crates_per_day.or(file.new_crates_per_day),
            publishes_per_day: self.publishes_per_day.or(file.publishes_per_day),
            versions_per_crate_per_day: self
                .versions_per_crate_per_day
                .or(file.versions_per_crate_per_day),
        };
        if limits.publish_burst.is_some() && limits.publish_rate_per_minute.is_none() {
            anyhow::bail!(
                "`publish-burst` is set without `publish-rate-per-minute`; set the rate too (the burst is the size of the bucket that rate refills)"
            );
        }
        Ok(limits)
    }
}

/// Starts the server and runs until SIGINT or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => FileSettings::load(path)?,
        None => FileSettings::default(),
    };
    let rate_limits = args.rate_limits.resolve(&file)?;
    // Before anything is created, so bad certificate files change nothing.
    let tls = args.tls.load(&file)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let data = args.data.or(file.data).unwrap_or_else(default_data_dir);
    let listen = match args.listen.or(file.listen) {
        Some(addr) => addr,
        None => DEFAULT_LISTEN
            .parse()
            .expect("the default listen address parses"),
    };
    let auth_required = args.auth_required || file.auth_required.unwrap_or(false);
    let public_url = args.public_url.or(file.public_url);
    let max_crate = file.max_crate_bytes;
    let workers = args.workers.or(file.workers);
    let yield_every = args
        .yield_every
        .or(file.yield_every)
        .unwrap_or(DEFAULT_YIELD_EVERY);

    // Requests are served on the server's own per-core worker threads; this runtime only opens
    // storage, warms the cache and waits for a shutdown signal.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let storage = open_storage(&data).await?;
        ensure_admin_token(&storage, &data)?;

        let server = match workers {
            Some(workers) => Server::bind_with_workers(listen, workers.get()),
            None => Server::bind(listen),
        }
        .with_context(|| format!("binding {listen}"))?
        .with_yield_every(yield_every);
        let server = match tls {
            Some(tls) => {
                reload_on_sighup(tls.clone());
                server.with_tls(tls)
            }
            None => server,
        };
        let addr = server.local_addr()?;
        let public_url = public_url.unwrap_or_else(|| format!("{scheme}://{addr}"));
        let mut config = ServerConfig::new(public_url.clone(), auth_required);
        if let Some(max) = max_crate {
            config.limits.max_crate_bytes = max;
        }
        if rate_limits != PublishRateLimits::default() {
            tracing::info!(?rate_limits, "publish rate limits on");
        }
        config.rate_limits = rate_limits;
        let state = Arc::new(AppState::new(storage, config));
        warm_cache(&state).await.context("loading index files")?;
        tracing::info!(%addr, data = %data.display(), auth_required, "wharf listening");
        eprintln!("wharf: serving on {scheme}://{addr}  (index: sparse+{public_url}/index/)");
        server.run(state, shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// On first start, creates an `admin` user with every scope and stores its token in
/// `<data>/admin-token` (mode 0600), printing it once.
fn ensure_admin_token(storage: &Storage, data: &std::path::Path) -> anyhow::Result<()> {
    let path = data.join("admin-token");
    if path.exists() {
        return Ok(());
    }
    let created = storage
        .create_token(NewToken {
            user: "admin".to_owned(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            name_patterns: Vec::new(),
            label: Some("initial admin token".to_owned()),
        })
        .context("creating the initial admin token")?;
    write_private(&path, created.secret.expose())?;
    eprintln!(
        "wharf: created user `admin`; its API token (shown once, also saved to {}):\n{}",
        path.display(),
        created.secret.expose()
    );
    Ok(())
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating `{}`", path.display()))?;
    writeln!(file, "{contents}").with_context(|| format!("writing `{}`", path.display()))?;
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}

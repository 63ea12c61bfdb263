//! `wharf serve`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wharf_git_index::{Author, GitIndex, WorkerOptions, spawn_worker};
use wharf_index_format::{RegistryConfig, own_index_url};
use wharf_registry_server::{
    AppState, PublishRateLimits, Server, ServerConfig, Tenants, warm_and_follow,
};
use wharf_storage::{MetadataDatabase, NewToken, Scope, Storage};

use crate::open_registry::open_node;
use crate::serve_tls::reload_on_sighup;
use crate::settings::{ServeSettings, SettingKeys};

/// Flags of `wharf serve`. Each has a `WHARF_*` environment variable; both override `--config`
/// key by key.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    keys: SettingKeys,
    /// A TOML file with any of: data, database, listen, public-url, auth-required, require-signatures,
    /// workers, yield-every, index-fast-path, max-crate-bytes, allowed-dependency-registries, publish-rate-per-minute, publish-burst,
    /// new-crates-per-day, publishes-per-day, versions-per-crate-per-day, header-timeout,
    /// body-timeout, min-upload-rate, idle-timeout, max-connections, tls-cert, tls-key,
    /// git-index, git-push, storage, s3-presigned-downloads, plans.
    #[arg(long, env = "WHARF_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Starts the server and runs until SIGINT or SIGTERM.
/// A data directory holding a mirror copy and no registry database is served read-only
/// (`serve_mirror`).
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let open_files = wharf_registry_server::raise_open_file_limit(); // before the default cap
    let file = args.config.as_deref().map(SettingKeys::load).transpose()?;
    let settings = args.keys.over(file.unwrap_or_default()).resolve()?;
    if crate::serve_mirror::is_mirror_dir(&settings.data) {
        crate::serve_mirror::run(settings)
    } else {
        run_registry(settings, &open_files)
    }
}

/// Sets the upload size limit and the allowed dependency registries (this registry's own
/// index among them) on `config`, and logs them. Returns the limits without the registry
/// list, from which each tenant derives its own (its own index URL differs).
fn set_publish_limits(
    config: &mut ServerConfig,
    max_crate_bytes: Option<u64>,
    allowed_dependency_registries: &[String],
) -> wharf_index_format::PublishLimits {
    if let Some(max) = max_crate_bytes {
        config.limits.max_crate_bytes = max;
    }
    let base_limits = config.limits.clone();
    config.limits = base_limits.clone().with_dependency_registries(
        &own_index_url(&config.public_url),
        allowed_dependency_registries,
    );
    tracing::info!(
        max_crate_bytes = config.limits.max_crate_bytes,
        dependency_registries = ?config.limits.allowed_dependency_registries,
        "publish limits"
    );
    base_limits
}

/// Serves the registry in `settings.data`, creating it on the first start.
fn run_registry(
    settings: ServeSettings,
    open_files: &wharf_registry_server::OpenFileLimit,
) -> anyhow::Result<ExitCode> {
    let ServeSettings {
        data,
        database,
        listen,
        public_url,
        auth_required,
        require_signatures,
        max_crate_bytes,
        workers,
        yield_every,
        index_path,
        timestamp_expiry,
        allowed_dependency_registries,
        rate_limits,
        connection_limits,
        tls,
        git_index,
        git_push,
        storage,
        presigned_downloads,
        plans,
    } = settings;
    // Before anything is created, so bad certificate or plans files change nothing.
    let tls = crate::serve_tls::load(tls)?;
    let plans = plans
        .map(|path| crate::plan::load_catalog(&path, auth_required))
        .transpose()?;
    require_git_export_possible(git_index, &database)?;
    let scheme = if tls.is_some() { "https" } else { "http" };

    // Requests are served on the server's own per-core worker threads; this runtime only opens
    // storage, warms the cache and waits for a shutdown signal.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // Bind first: a server that cannot have its address touches no data.
        let server = bind(listen, workers)?
            .with_yield_every(yield_every)
            .with_index_fast_path(fast_path_on(index_path));
        // On the first start the public URL's host names the registry in its signed
        // documents; without one, storage names it after its root key.
        let origin = make_embedded_keys(&data, &database, public_url.as_deref())?;
        let storage =
            open_blob_storage(&data, storage, presigned_downloads, &database, origin).await?;
        ensure_admin_token(&storage, &data)?;
        if let Some(catalog) = &plans {
            crate::plan::use_catalog(&storage, catalog.clone())?;
        }
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
        let base_limits =
            set_publish_limits(&mut config, max_crate_bytes, &allowed_dependency_registries);
        if rate_limits != PublishRateLimits::default() {
            tracing::info!(?rate_limits, "publish rate limits on");
        }
        config.rate_limits = rate_limits;
        log_connection_limits(&connection_limits, open_files);
        config.connections = connection_limits;
        config.timestamp_expiry = timestamp_expiry;
        config.require_signatures = require_signatures;
        config.presigned_downloads = presigned_downloads;
        if require_signatures {
            tracing::info!("unsigned releases are refused (require-signatures)");
        }
        let git_export = git_index
            .then(|| create_git_export(&data, &mut config, &git_push))
            .transpose()?;
        let tenant_setup = crate::serve_tenants::TenantSetup {
            data: data.clone(),
            database: database.clone(),
            base: config.clone(),
            base_limits,
            allowed_dependency_registries,
            plans,
        };
        let state = Arc::new(AppState::new(storage, config));
        let warmed = warm_and_follow(&state).await;
        warmed.context("loading index files")?;
        // Commits and pushes run on this runtime, never on a request's path.
        let _git_worker = git_export.map(|export| {
            let options = WorkerOptions {
                remotes: git_push,
                ..WorkerOptions::default()
            };
            spawn_worker(export, state.storage.clone(), options)
        });
        let _refresh = wharf_registry_server::spawn_timestamp_refresh(Arc::clone(&state));
        let tenants = Arc::new(Tenants::new(state));
        crate::serve_tenants::start(tenant_setup, Arc::clone(&tenants)).await?;
        tracing::info!(%addr, data = %data.display(), database = %crate::open_registry::shown(&database), auth_required, "wharf listening");
        let shutdown = shutdown_signal()?;
        eprintln!("wharf: serving on {scheme}://{addr}  (index: sparse+{public_url}/index/)");
        server.run_tenants(tenants, shutdown).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The connection limits in force and the open-file limit they need, one line each.
fn log_connection_limits(
    limits: &wharf_registry_server::ConnectionLimits,
    open_files: &wharf_registry_server::OpenFileLimit,
) {
    tracing::info!(?limits, "connection limits");
    open_files.log(limits.max_connections);
}

/// Sets up the git export of the index and points the server at it.
fn create_git_export(
    data: &std::path::Path,
    config: &mut ServerConfig,
    git_push: &[String],
) -> anyhow::Result<GitIndex> {
    let config_json =
        RegistryConfig::for_public_url(&config.public_url, config.auth_required).to_json();
    let export = GitIndex::create(data, config_json.as_bytes(), Author::default())
        .context("setting up the git index")?;
    config.git_index = Some(export.root().to_owned());
    tracing::info!(repo = %export.repo_path().display(), remotes = ?git_push, "git index on");
    Ok(export)
}

/// Opens the registry's storage; presigned downloads need a bucket that signs URLs.
async fn open_blob_storage(
    data: &std::path::Path,
    storage: Option<wharf_storage::S3Location>,
    presigned_downloads: Option<std::time::Duration>,
    database: &MetadataDatabase,
    origin: Option<String>,
) -> anyhow::Result<Storage> {
    let new_keys = !data.join("keys").join("keyset-1.note").exists();
    let storage = open_node(data, storage, database, origin).await?;
    if new_keys && storage.on_postgres() {
        // The first node of a new registry on PostgreSQL makes the key that seals its
        // tenants' keys, so the `keys/` copied to every other node holds it.
        wharf_storage::make_tenant_key(data).context("making the registry's tenant key")?;
    }
    if storage.on_postgres() && !storage.signs_download_urls() {
        tracing::warn!(
            "the metadata is in PostgreSQL but the blobs are in this node's data directory: run one node only, or give every node the same bucket with --storage s3://BUCKET/PREFIX"
        );
    }
    if let Some(expiry) = presigned_downloads {
        if !storage.signs_download_urls() {
            anyhow::bail!(
                "`s3-presigned-downloads` needs blobs in an S3 bucket; give `--storage s3://BUCKET/PREFIX` (or WHARF_STORAGE, or the config key `storage`) or leave presigned downloads off"
            );
        }
        tracing::info!(
            ?expiry,
            "downloads answered with presigned URLs of the bucket"
        );
    }
    Ok(storage)
}

/// The origin named by the public URL, if any; on the embedded database, makes the
/// registry's keys named after it before storage opens (on PostgreSQL storage makes them,
/// only when the database records no keyset yet).
fn make_embedded_keys(
    data: &std::path::Path,
    database: &MetadataDatabase,
    public_url: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let origin = public_url.and_then(origin_of);
    if let (Some(origin), MetadataDatabase::Embedded) = (&origin, database) {
        wharf_storage::RegistryKeys::load_or_create(data, Some(origin))
            .context("making the registry's signing keys")?;
    }
    Ok(origin)
}

/// The git export, when turned on (`git_index`), needs the `git` program and, for now, the
/// embedded database.
fn require_git_export_possible(git_index: bool, database: &MetadataDatabase) -> anyhow::Result<()> {
    if !git_index {
        return Ok(());
    }
    if let MetadataDatabase::Postgres(url) = database {
        anyhow::bail!(
            "`git-index = true` does not work with the metadata in PostgreSQL (`{}`) yet; turn the git export off, or serve the registry from its embedded database",
            wharf_storage::redact_database_url(url)
        );
    }
    require_git_program()
}

/// The git export serves fetches through `git http-backend` and pushes with `git push`: a
/// host without the `git` program is refused at start, not at the first fetch.
fn require_git_program() -> anyhow::Result<()> {
    let works = std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !works {
        anyhow::bail!(
            "`git-index = true` needs the `git` program on PATH (it serves /git/index with `git http-backend` and pushes with `git push`); install git or turn the git export off"
        );
    }
    Ok(())
}

/// Binds the listening sockets; an address already in use is one line saying what to do.
pub(crate) fn bind(listen: SocketAddr, workers: Option<NonZeroUsize>) -> anyhow::Result<Server> {
    let bound = match workers {
        Some(workers) => Server::bind_with_workers(listen, workers.get()),
        None => Server::bind(listen),
    };
    bound.map_err(|error| {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "address {listen} already in use: another wharf serve or another program listens there; stop it or choose a free address with --listen"
            )
        } else {
            anyhow::Error::new(error).context(format!("binding {listen}"))
        }
    })
}

/// The origin of a public URL: its host and port (`registry.example.com`,
/// `127.0.0.1:8080`), or `None` when the URL has none.
fn origin_of(public_url: &str) -> Option<String> {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or_default();
    (!host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic())).then(|| host.to_owned())
}

/// On first start, creates an `admin` user with every scope and stores its token in
/// `<data>/admin-token` (mode 0600), printing it once.
/// On PostgreSQL only the registry's first node does this: a node joining a registry whose
/// `admin` already has a token makes none.
fn ensure_admin_token(storage: &Storage, data: &std::path::Path) -> anyhow::Result<()> {
    let path = data.join("admin-token");
    if path.exists() {
        return Ok(());
    }
    if storage.on_postgres()
        && !storage
            .list_tokens(Some("admin"))
            .context("listing the admin's tokens")?
            .is_empty()
    {
        tracing::info!(
            "the registry's admin has a token already (saved by its first node); none made"
        );
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

/// Listens for SIGINT (Ctrl-C) and SIGTERM from the moment it is called, and returns a future
/// that resolves on the first of them. Registering before the server says it serves means a
/// signal sent right after that line stops it gracefully instead of killing it.
pub(crate) fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutdown signal received");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutdown signal received");
        })
    }
}

/// Whether the server's index fast path is on; says so in the log when it is off.
fn fast_path_on(index_path: crate::settings::IndexPath) -> bool {
    let on = index_path == crate::settings::IndexPath::Fast;
    if !on {
        tracing::info!("index fast path off (index-fast-path = false): hyper serves every request");
    }
    on
}

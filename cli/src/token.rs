//! `wharf token create|list|revoke`: API tokens, managed directly on the data directory.
//!
//! SQLite in WAL mode lets these run while a server uses the same data: a new token works at
//! once, a revoked one stops working at once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wharf_storage::{NewToken, Scope, Storage};

use crate::settings::{default_data_dir, open_storage};

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token (and the user, if new). The token is the last line of stdout.
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List(ListArgs),
    /// Revoke a token by id.
    Revoke(RevokeArgs),
}

/// Where the data lives.
#[derive(Debug, Args)]
pub(crate) struct DataArg {
    /// Data directory of the registry [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
}

/// `wharf token create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    data: DataArg,
    /// Login of the token's user; created if it does not exist.
    #[arg(long)]
    user: String,
    /// Scopes: publish-new, publish-update, yank, owners, read. Repeat or comma-separate.
    /// [default: all of them]
    #[arg(long = "scope", value_delimiter = ',')]
    scopes: Vec<String>,
    /// Expiry: a duration like `30d`, `12h`, `90m`, or seconds since the epoch.
    #[arg(long)]
    expires: Option<String>,
    /// Only allow package names matching this glob (e.g. `acme-*`). Repeatable.
    #[arg(long = "crate-pattern")]
    patterns: Vec<String>,
    /// A label to recognise the token by in `wharf token list`.
    #[arg(long)]
    label: Option<String>,
}

/// `wharf token list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    data: DataArg,
    /// Only this user's tokens.
    #[arg(long)]
    user: Option<String>,
}

/// `wharf token revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    data: DataArg,
    /// The token id, as `wharf token list` shows it.
    id: i64,
}

/// Runs a token subcommand.
pub(crate) fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match command {
            TokenCommand::Create(args) => create(args).await,
            TokenCommand::List(args) => list(args).await,
            TokenCommand::Revoke(args) => revoke(args).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn open(data: &DataArg) -> anyhow::Result<Storage> {
    open_storage(&data.data.clone().unwrap_or_else(default_data_dir)).await
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let scopes = if args.scopes.is_empty() {
        Scope::ALL.to_vec()
    } else {
        args.scopes
            .iter()
            .map(|s| s.parse::<Scope>().map_err(|e| anyhow::anyhow!("{e}")))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let expires_at = args.expires.as_deref().map(parse_expiry).transpose()?;
    let storage = open(&args.data).await?;
    let created = storage.create_token(NewToken {
        user: args.user,
        scopes,
        expires_at,
        name_patterns: args.patterns,
        label: args.label,
    })?;
    let info = &created.info;
    let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "created token {} for user `{}` with scopes [{}]{}; it is shown only once:",
        info.id,
        info.user,
        scopes.join(", "),
        info.expires_at
            .map_or(String::new(), |t| format!(", expiring at {t} (unix time)"))
    );
    println!("{}", created.secret.expose());
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let storage = open(&args.data).await?;
    let tokens = storage.list_tokens(args.user.as_deref())?;
    println!(
        "{:>5}  {:<16} {:<44} {:<8} {:<12} label",
        "id", "user", "scopes", "revoked", "expires"
    );
    for t in tokens {
        let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
        println!(
            "{:>5}  {:<16} {:<44} {:<8} {:<12} {}",
            t.id,
            t.user,
            scopes.join(","),
            t.revoked,
            t.expires_at.map_or("never".to_owned(), |e| e.to_string()),
            t.label.unwrap_or_default()
        );
    }
    Ok(())
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let storage = open(&args.data).await?;
    storage.revoke_token(args.id)?;
    eprintln!("revoked token {}", args.id);
    Ok(())
}

/// `30d`, `12h`, `90m`, `45s` from now, or an absolute unix time.
fn parse_expiry(text: &str) -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let now = i64::try_from(now).context("the system clock is out of range")?;
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let Ok(n) = number.parse::<i64>() else {
        bail!("cannot read expiry `{text}`: use e.g. `30d`, `12h`, `90m` or a unix time");
    };
    let seconds = match unit {
        "" => return Ok(n),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("unknown unit in expiry `{text}`: use s, m, h or d"),
    };
    Ok(now + seconds)
}

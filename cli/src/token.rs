//! `wharf token create|list|revoke`: API tokens, managed directly on the data directory.
//!
//! SQLite in WAL mode lets these run while a server uses the same data: a new token works at
//! once, a revoked one stops working at once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wharf_storage::{AuditEntry, NewToken, Scope, Storage, check_display_name};

use crate::admin_audit::record_admin_action;
use crate::open_registry::{DatabaseArg, open_existing_storage_on};
use crate::settings::default_data_dir;

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
    /// Data directory of a registry `wharf serve` created [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Work on this tenant's registry (`wharf tenant create`) instead of the default one.
    #[arg(long, value_name = "NAME")]
    tenant: Option<String>,
    #[command(flatten)]
    database: DatabaseArg,
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
    /// Expiry: a duration like `30d`, `12h`, `90m`, a time like `2027-01-31T00:00:00Z`, or
    /// seconds since the epoch.
    #[arg(long)]
    expires: Option<String>,
    /// Only allow package names matching this glob (e.g. `acme-*`). Repeatable.
    #[arg(long = "crate-pattern")]
    patterns: Vec<String>,
    /// A label to recognise the token by in `wharf token list`.
    #[arg(long)]
    label: Option<String>,
    /// The user's name as shown next to the login in owner lists (`cargo owner --list`).
    #[arg(long, value_name = "TEXT")]
    display_name: Option<String>,
    /// Narrow the token to a role within the user's (tenant-admin, maintainer, publisher,
    /// reader, auditor): it may do only what both roles allow.
    #[arg(long)]
    role: Option<String>,
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
    crate::open_registry::run_command(async move {
        match command {
            TokenCommand::Create(args) => create(args).await,
            TokenCommand::List(args) => list(args).await,
            TokenCommand::Revoke(args) => revoke(args).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn open(data: &DataArg) -> anyhow::Result<Storage> {
    let dir = data.data.clone().unwrap_or_else(default_data_dir);
    match &data.tenant {
        Some(tenant) => crate::tenant::open_tenant(&dir, tenant, &data.database).await,
        None => open_existing_storage_on(&dir, &data.database).await,
    }
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
    // Checked before anything is created, so a bad name leaves no token behind.
    if let Some(name) = &args.display_name {
        check_display_name(name)?;
    }
    let role = args
        .role
        .as_deref()
        .map(str::parse::<wharf_storage::Role>)
        .transpose()?;
    let storage = open(&args.data).await?;
    let created = storage.create_narrowed_token(
        NewToken {
            user: args.user.clone(),
            scopes,
            expires_at,
            name_patterns: args.patterns,
            label: args.label,
        },
        role,
    )?;
    if let Some(name) = &args.display_name {
        storage.set_display_name(&args.user, Some(name))?;
    }
    let info = &created.info;
    record_admin_action(
        &storage,
        &AuditEntry::new(
            crate::admin_licence::ADMIN_ACTOR,
            "local",
            "token.create",
            format!("token {} for {}", info.id, info.user),
            "ok",
        ),
    )?;
    let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "created token {} for user `{}` with scopes [{}]{}{}; it is shown only once:",
        info.id,
        info.user,
        scopes.join(", "),
        info.role
            .map_or(String::new(), |role| format!(", narrowed to {role}")),
        info.expires_at
            .map_or(String::new(), |t| format!(", expiring at {}", rfc3339(t)))
    );
    println!("{}", created.secret.expose());
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let storage = open(&args.data).await?;
    let tokens = storage.list_tokens(args.user.as_deref())?;
    println!(
        "{:>5}  {:<16} {:<44} {:<8} {:<20} label",
        "id", "user", "scopes", "revoked", "expires"
    );
    for t in tokens {
        let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
        println!(
            "{:>5}  {:<16} {:<44} {:<8} {:<20} {}",
            t.id,
            t.user,
            scopes.join(","),
            t.revoked,
            t.expires_at.map_or_else(|| "never".to_owned(), rfc3339),
            t.label.unwrap_or_default()
        );
    }
    Ok(())
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let storage = open(&args.data).await?;
    let revoked = storage.revoke_token(args.id);
    record_admin_action(
        &storage,
        &AuditEntry::new(
            crate::admin_licence::ADMIN_ACTOR,
            "local",
            "token.revoke",
            format!("token {}", args.id),
            match &revoked {
                Ok(()) => "ok".to_owned(),
                Err(error) => format!("refused: {error}"),
            },
        ),
    )?;
    revoked?;
    eprintln!("revoked token {}", args.id);
    Ok(())
}

/// A unix time as RFC 3339 in UTC, to the second (`2027-01-31T00:00:00Z`); a time before
/// 1970 (which no expiry Wharf accepts can be) stays a number.
fn rfc3339(unix_seconds: i64) -> String {
    u64::try_from(unix_seconds).map_or_else(
        |_| unix_seconds.to_string(),
        |seconds| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
            )
            .to_string()
        },
    )
}

/// When a token expires, in seconds since the epoch: a duration from now (`30d`, `12h`,
/// `90m`, `1w 2d`, as humantime reads it), an RFC 3339 time (`2027-01-31T00:00:00Z`), or a unix
/// time.
fn parse_expiry(text: &str) -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now();
    expiry_at(text.trim(), now)
}

fn expiry_at(text: &str, now: std::time::SystemTime) -> anyhow::Result<i64> {
    let unix = |at: std::time::SystemTime| -> anyhow::Result<i64> {
        let seconds = at
            .duration_since(std::time::UNIX_EPOCH)
            .context("the expiry is before 1970")?
            .as_secs();
        i64::try_from(seconds).context("the expiry is too far in the future")
    };
    if let Ok(seconds) = text.parse::<i64>() {
        if seconds < 0 {
            bail!(
                "expiry `{text}` is before 1970: use a duration such as `30d`, a time such as `2027-01-31T00:00:00Z`, or a unix time"
            );
        }
        return Ok(seconds);
    }
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        return unix(at);
    }
    match humantime::parse_duration(text) {
        Ok(duration) => unix(
            now.checked_add(duration)
                .context("the expiry is too far in the future")?,
        ),
        Err(error) => bail!(
            "cannot read expiry `{text}` ({error}): use a duration such as `30d`, `12h` or `90m`, a time such as `2027-01-31T00:00:00Z`, or a unix time"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn at(text: &str) -> anyhow::Result<i64> {
        expiry_at(text, UNIX_EPOCH + Duration::from_secs(NOW))
    }

    #[test]
    fn durations_count_from_now() {
        let now = i64::try_from(NOW).unwrap();
        assert_eq!(at("45s").unwrap(), now + 45);
        assert_eq!(at("90m").unwrap(), now + 90 * 60);
        assert_eq!(at("12h").unwrap(), now + 12 * 3600);
        assert_eq!(at("30d").unwrap(), now + 30 * 86_400);
        assert_eq!(at("1w 2d").unwrap(), now + 9 * 86_400);
    }

    #[test]
    fn times_and_unix_seconds_are_absolute() {
        assert_eq!(at("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(at("2027-01-31T00:00:00Z").unwrap(), 1_801_353_600);
        assert_eq!(at("2027-01-31 00:00:00").unwrap(), 1_801_353_600);
    }

    #[test]
    fn expiries_print_as_rfc3339_in_utc() {
        assert_eq!(rfc3339(1_801_353_600), "2027-01-31T00:00:00Z");
        assert_eq!(
            rfc3339(at("2027-01-31T12:34:56Z").unwrap()),
            "2027-01-31T12:34:56Z"
        );
        assert_eq!(rfc3339(-1), "-1");
        assert!(at("-5").unwrap_err().to_string().contains("before 1970"));
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_forms() {
        let error = at("next tuesday").unwrap_err().to_string();
        assert!(error.contains("`next tuesday`"), "{error}");
        assert!(
            error.contains("30d") && error.contains("unix time"),
            "{error}"
        );
        assert!(at("3 fortnights").is_err());
    }
}

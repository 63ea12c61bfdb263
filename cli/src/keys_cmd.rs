//! `wharf keys new|register|list|revoke`: publisher keys.
//!
//! `new` makes a key file on this machine (mode 0600, never replacing a file); the others talk
//! to a running registry under `/api/wharf/v1/keys` with an API token.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::json;
use wharf_trust::{
    KdfParams, KeyFileProtection, KeyRegistration, PublicKey, SigningKey, Statement, StatementBody,
    UtcTime,
};

use crate::registry_api::{KeyFileArgs, RegistryApi, RegistryArgs, passphrase};

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a new publisher key file (ed25519), encrypted when a passphrase is given.
    New(NewArgs),
    /// Register a key file's public key to the token's account (the key signs the request).
    Register(RegisterArgs),
    /// List the keys registered to the token's account.
    List(ListArgs),
    /// Revoke a registered key; the packages it signs for log the revocation.
    Revoke(RevokeArgs),
    /// Add a registered key (yours or a co-owner's) to a package's publisher keys, signed
    /// by a current key of the package (or, for a package without keys, by the key itself).
    AddTo(AddToArgs),
}

/// `wharf keys add-to`.
#[derive(Debug, Args)]
pub(crate) struct AddToArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The package.
    package: String,
    /// The signing key file: a current publisher key of the package.
    #[command(flatten)]
    key: KeyFileArgs,
    /// The public key to add (`wharf-ed25519:…`, registered to an owner of the package)
    /// [default: the key of `--key` itself].
    #[arg(long, value_name = "KEY")]
    new_key: Option<String>,
}

/// `wharf keys new`.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Where to write the key file (refused if it exists).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The environment variable holding a passphrase to encrypt the file with
    /// (Argon2id + XChaCha20-Poly1305); without it the file is written unencrypted.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

/// `wharf keys register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    key: KeyFileArgs,
}

/// `wharf keys list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `wharf keys revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// The key id (64 hex digits, or the first 16 as `wharf keys list` shows them).
    id: String,
    /// The key was stolen: releases it signed from this time on (RFC 3339, e.g.
    /// `2026-08-20T10:11:12Z`) are invalid too, not only those after the revocation.
    #[arg(long, value_name = "TIME")]
    compromised_since: Option<String>,
}

/// Runs a keys subcommand.
pub(crate) fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::New(args) => new(&args),
        KeysCommand::Register(args) => register(&args),
        KeysCommand::List(args) => list(&args),
        KeysCommand::Revoke(args) => revoke(&args),
        KeysCommand::AddTo(args) => add_to(&args),
    }
}

fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::generate();
    let secret = args.passphrase_env.as_deref().map(passphrase).transpose()?;
    let protection = match &secret {
        Some(secret) => KeyFileProtection::Passphrase {
            passphrase: secret.as_bytes(),
            params: KdfParams::default(),
        },
        None => KeyFileProtection::Unencrypted,
    };
    let text = key.to_key_file(protection)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&args.out).with_context(|| {
        format!(
            "cannot create the key file `{}` (an existing file is never replaced; choose another path)",
            args.out.display()
        )
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the key file `{}`", args.out.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "key id: {}", key.key_id())?;
    writeln!(out, "public key: {}", key.public_key())?;
    writeln!(
        out,
        "written to {} ({})",
        args.out.display(),
        if secret.is_some() {
            "encrypted"
        } else {
            "unencrypted: keep it private"
        }
    )?;
    Ok(ExitCode::SUCCESS)
}

fn register(args: &RegisterArgs) -> anyhow::Result<ExitCode> {
    let key = args.key.load()?;
    let api = RegistryApi::new(&args.registry)?;
    let account = api.send(
        api.request(Method::GET, "/api/wharf/v1/keys"),
        "reading the account",
    )?;
    let (Some(origin), Some(login)) = (account["origin"].as_str(), account["login"].as_str())
    else {
        anyhow::bail!("the registry's answer to GET /api/wharf/v1/keys names no origin and login");
    };
    let registration = KeyRegistration::new(origin, login, key.public_key(), UtcTime::now())?;
    let signature = registration.sign(&key);
    api.send(
        api.request(Method::POST, "/api/wharf/v1/keys")
            .json(&json!({
                "registration": registration.to_text(),
                "signature": signature.to_text(),
            })),
        "registering the key",
    )?;
    writeln!(
        std::io::stdout().lock(),
        "registered key {} to `{login}` on {origin}",
        key.key_id()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn add_to(args: &AddToArgs) -> anyhow::Result<ExitCode> {
    let signer = args.key.load()?;
    let added = match &args.new_key {
        Some(text) => PublicKey::parse(text).context("--new-key")?,
        None => signer.public_key(),
    };
    let api = RegistryApi::new(&args.registry)?;
    let origin = api.origin()?;
    let statement = Statement::new(
        &origin,
        &args.package,
        StatementBody::OwnerKeyAdd { key: added },
        UtcTime::now(),
    )?;
    api.send(
        api.request(Method::POST, "/api/wharf/v1/keys/add-to")
            .json(&json!({
                "statement": statement.to_text(),
                "signatures": [statement.sign(&signer).to_text()],
            })),
        &format!("adding key {} to {}", added.key_id().short(), args.package),
    )?;
    writeln!(
        std::io::stdout().lock(),
        "key {} is now a publisher key of {}",
        added.key_id(),
        args.package
    )?;
    Ok(ExitCode::SUCCESS)
}

fn text_or_dash(value: &serde_json::Value) -> &str {
    value.as_str().unwrap_or("-")
}

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let api = RegistryApi::new(&args.registry)?;
    let account = api.send(
        api.request(Method::GET, "/api/wharf/v1/keys"),
        "listing keys",
    )?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<16}  {:<20}  {:<20}  {:<20}  packages",
        "id", "created", "revoked", "compromised-since"
    )?;
    for key in account["keys"].as_array().into_iter().flatten() {
        let id = text_or_dash(&key["id"]);
        let packages: Vec<&str> = key["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .collect();
        writeln!(
            out,
            "{:<16}  {:<20}  {:<20}  {:<20}  {}",
            id.get(..16).unwrap_or(id),
            text_or_dash(&key["created"]),
            text_or_dash(&key["revoked"]),
            text_or_dash(&key["compromised_since"]),
            if packages.is_empty() {
                "-".to_owned()
            } else {
                packages.join(",")
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(args: &RevokeArgs) -> anyhow::Result<ExitCode> {
    if let Some(since) = &args.compromised_since {
        UtcTime::parse(since, "--compromised-since").with_context(|| {
            format!("--compromised-since `{since}`: give an RFC 3339 UTC time, e.g. 2026-08-20T10:11:12Z")
        })?;
    }
    let api = RegistryApi::new(&args.registry)?;
    let path = format!("/api/wharf/v1/keys/{}/revoke", args.id);
    let body = match &args.compromised_since {
        Some(since) => json!({ "compromised_since": since }),
        None => json!({}),
    };
    let answer = api.send(
        api.request(Method::POST, &path).json(&body),
        "revoking the key",
    )?;
    let packages = answer["key"]["packages"].as_array().map_or(0, Vec::len);
    writeln!(
        std::io::stdout().lock(),
        "revoked key {} ({packages} packages log the revocation)",
        text_or_dash(&answer["key"]["id"])
    )?;
    Ok(ExitCode::SUCCESS)
}

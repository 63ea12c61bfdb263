//! `wharf admin premium …` and `wharf admin licence …`: premium packages, the entitlement
//! keys the registry trusts, licences and their revocation (docs/entitlements.md).
//!
//! Each command works on the registry's data directory, also while a server runs on it
//! (as `wharf token` does), and leaves an audit record.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wharf_storage::Storage;
use wharf_trust::{
    Licence, LicenceTerms, PublicKey, RevocationList, RevocationTerms, UtcTime, key_file_public_key,
};

use crate::open_registry::{DatabaseArg, open_existing_storage_on};
use crate::registry_api::KeyFileArgs;
use crate::settings::default_data_dir;

/// Who admin commands are recorded as in the audit log.
pub(crate) const ADMIN_ACTOR: &str = "admin";

/// The registry's data directory, and its PostgreSQL database when its metadata lives there.
#[derive(Debug, Args)]
pub(crate) struct DataDir {
    /// Data directory of the registry [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    database: DatabaseArg,
}

impl DataDir {
    /// The directory given, or the default.
    pub(crate) fn dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(default_data_dir)
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Storage> {
        open_existing_storage_on(&self.dir(), &self.database).await
    }
}

/// `wharf admin premium …`.
#[derive(Debug, Subcommand)]
pub(crate) enum PremiumCommand {
    /// Mark a package premium: downloading its files needs a licence (its index stays public).
    Set(PremiumArgs),
    /// Make a premium package free again.
    Unset(PremiumArgs),
    /// List the premium packages.
    List(DataDir),
}

/// `wharf admin premium set|unset`.
#[derive(Debug, Args)]
pub(crate) struct PremiumArgs {
    /// The package.
    name: String,
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin licence …`.
#[derive(Debug, Subcommand)]
pub(crate) enum LicenceCommand {
    /// Trust the public key of a key file (`wharf keys new`) to sign licences and
    /// revocation lists; the registry publishes it at /api/wharf/v1/entitlements.
    TrustKey(TrustKeyArgs),
    /// Sign a licence with a trusted entitlement key; prints it (one line) or writes `--out`.
    Issue(IssueArgs),
    /// Revoke a licence: signs and stores the next revocation list.
    Revoke(RevokeArgs),
}

/// `wharf admin licence trust-key`.
#[derive(Debug, Args)]
pub(crate) struct TrustKeyArgs {
    /// The entitlement key file (only its public key is read).
    #[arg(long = "key", value_name = "FILE")]
    key: PathBuf,
    /// The registry's root key file, which signs the next keyset naming the key
    /// (default: `<DIR>/keys/root.key`, while it is there).
    #[arg(long, value_name = "FILE")]
    root_key: Option<PathBuf>,
    /// The environment variable holding the root key file's passphrase.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin licence issue`.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    #[command(flatten)]
    key: KeyFileArgs,
    /// Who the licence is for: a user login, or `tenant:<id>`.
    #[arg(long, value_name = "LOGIN")]
    licensee: String,
    /// A package name or `*` glob it covers (repeat for more).
    #[arg(long = "package", value_name = "NAME", required = true)]
    packages: Vec<String>,
    /// The versions it covers, a semver requirement.
    #[arg(long, value_name = "REQ", default_value = "*")]
    versions: String,
    /// When it expires: `YYYY-MM-DDTHH:MM:SSZ` or a duration from now (`30d`, `1y`).
    #[arg(long, value_name = "TIME")]
    expires: String,
    /// When it starts to be valid [default: now].
    #[arg(long, value_name = "TIME")]
    not_before: Option<String>,
    /// The licence id [default: made from the time].
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Write the licence to this file instead of printing it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin licence revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The id of the licence.
    id: String,
    #[command(flatten)]
    key: KeyFileArgs,
    #[command(flatten)]
    data: DataDir,
}

/// Runs `wharf admin premium …`.
pub(crate) async fn premium(command: PremiumCommand) -> anyhow::Result<ExitCode> {
    match command {
        PremiumCommand::Set(args) | PremiumCommand::Unset(args) if args.name.trim().is_empty() => {
            bail!("the package name is empty; name a published package")
        }
        PremiumCommand::Set(args) => {
            let storage = args.data.open().await?;
            let changed = storage.set_premium(&args.name, true, ADMIN_ACTOR)?;
            eprintln!(
                "`{}` is premium{}",
                args.name,
                if changed { "" } else { " (it already was)" }
            );
        }
        PremiumCommand::Unset(args) => {
            let storage = args.data.open().await?;
            let changed = storage.set_premium(&args.name, false, ADMIN_ACTOR)?;
            eprintln!(
                "`{}` is not premium{}",
                args.name,
                if changed { "" } else { " (it was not)" }
            );
        }
        PremiumCommand::List(data) => {
            for name in data.open().await?.entitlement_info()?.premium {
                println!("{name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `wharf admin licence …`.
pub(crate) async fn licence(command: LicenceCommand) -> anyhow::Result<ExitCode> {
    match command {
        LicenceCommand::TrustKey(args) => trust_key(&args).await?,
        LicenceCommand::Issue(args) => issue(args).await?,
        LicenceCommand::Revoke(args) => revoke(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs the entitlement key into the next keyset with the root key and installs it, then
/// trusts the key for the running registry's download checks.
async fn trust_key(args: &TrustKeyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading the key file `{}`", args.key.display()))?;
    let key = key_file_public_key(&text)
        .with_context(|| format!("reading the key file `{}`", args.key.display()))?;
    let dir = args.data.dir();
    let storage = args.data.open().await?;
    let current = wharf_storage::current_keyset(&dir)?;
    let signed_in = current.entitlement_keys().contains(&key);
    if !signed_in {
        let root_file = args.root_key.clone().unwrap_or_else(|| {
            dir.join(wharf_storage::KEYS_DIR)
                .join(wharf_storage::ROOT_KEY_FILE)
        });
        if !root_file.exists() {
            bail!(
                "the root key is not at `{}`, and an entitlement key is signed into the keyset by the root key: give its file with `--root-key FILE`, or run `wharf admin keyset request --add-entitlement-key {}` and sign the request where the root key is",
                root_file.display(),
                key
            );
        }
        let root = crate::registry_api::load_key(&root_file, args.passphrase_env.as_deref())?;
        if root.public_key() != *current.key(wharf_trust::KeyRole::Root) {
            bail!(
                "`{}` holds key {}, not the registry's root key {}; give the root key file with `--root-key FILE`",
                root_file.display(),
                root.key_id().short(),
                current.key(wharf_trust::KeyRole::Root).key_id().short()
            );
        }
        let keys = crate::admin_keyset::merge_entitlement_keys(
            &current,
            &storage.entitlement_info()?.keys,
            &[key],
            &[],
        )?;
        let request = wharf_storage::request_next_keyset(
            &dir,
            None,
            false,
            KEYSET_LIFETIME_SECONDS,
            Some(&keys),
        )
        .with_context(|| format!("requesting the next keyset of `{}`", dir.display()))?;
        let next = wharf_trust::Keyset::parse(&request)?;
        let note = next.sign(&[&root])?;
        let installed = wharf_storage::install_next_keyset(&dir, &note)
            .with_context(|| format!("installing the next keyset of `{}`", dir.display()))?;
        storage.set_entitlement_keys(installed.entitlement_keys(), ADMIN_ACTOR)?;
        eprintln!(
            "keyset version {} names entitlement key {}; the running `wharf serve` publishes it from its next request",
            installed.version(),
            key.key_id().short()
        );
    }
    let added = storage.add_entitlement_key(&key, ADMIN_ACTOR)?;
    eprintln!(
        "entitlement key {} is trusted{}",
        key.key_id().short(),
        if added || !signed_in {
            ""
        } else {
            " (it already was)"
        }
    );
    println!("{}", key.to_text());
    Ok(())
}

/// How long a keyset `trust-key` signs is valid.
const KEYSET_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

fn trusted_key(storage: &Storage, key: &KeyFileArgs) -> anyhow::Result<wharf_trust::SigningKey> {
    let signer = key.load()?;
    let trusted = storage
        .entitlement_info()?
        .keys
        .iter()
        .any(|text| PublicKey::parse(text).is_ok_and(|k| k == signer.public_key()));
    if !trusted {
        bail!(
            "key {} in `{}` is not a trusted entitlement key of this registry; run `wharf admin licence trust-key --key {}` first",
            signer.key_id().short(),
            key.key.display(),
            key.key.display()
        );
    }
    Ok(signer)
}

async fn issue(args: IssueArgs) -> anyhow::Result<()> {
    let now = UtcTime::now();
    let expires = parse_time(&args.expires, now, "--expires")?;
    let not_before = match &args.not_before {
        Some(text) => parse_time(text, now, "--not-before")?,
        None => now,
    };
    if expires <= not_before {
        bail!("--expires {expires} is not after --not-before {not_before}; give a later expiry");
    }
    let storage = args.data.open().await?;
    let signer = trusted_key(&storage, &args.key)?;
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("lic-{}-{:x}", now.unix(), std::process::id()));
    let licence = Licence::issue(
        LicenceTerms {
            id,
            licensee: args.licensee,
            packages: args.packages,
            versions: args.versions,
            not_before: not_before.to_string(),
            expires: expires.to_string(),
            issued_at: now.to_string(),
        },
        &signer,
    )?;
    storage.record_licence_issued(&licence, ADMIN_ACTOR)?;
    let text = licence.to_text();
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .with_context(|| format!("writing the licence to `{}`", path.display()))?;
            eprintln!(
                "licence {} written to {}",
                licence.terms().id,
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let storage = args.data.open().await?;
    let signer = trusted_key(&storage, &args.key)?;
    let info = storage.entitlement_info()?;
    let keys: Vec<PublicKey> = info
        .keys
        .iter()
        .filter_map(|text| PublicKey::parse(text).ok())
        .collect();
    let (serial, mut revoked) = match &info.revocations {
        Some(text) => {
            let list =
                RevocationList::open(text, &keys).context("reading the stored revocation list")?;
            (list.terms().serial, list.terms().revoked.clone())
        }
        None => (0, Vec::new()),
    };
    if revoked.contains(&args.id) {
        eprintln!("licence {} was already revoked (serial {serial})", args.id);
        return Ok(());
    }
    revoked.push(args.id.clone());
    let list = RevocationList::issue(
        RevocationTerms {
            serial: serial + 1,
            issued_at: UtcTime::now().to_string(),
            revoked,
        },
        &signer,
    )?;
    let stored = storage.store_revocation_list(&list.to_text(), ADMIN_ACTOR)?;
    eprintln!(
        "licence {} revoked (revocation list serial {stored})",
        args.id
    );
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ`, or a duration from `now`.
fn parse_time(text: &str, now: UtcTime, flag: &str) -> anyhow::Result<UtcTime> {
    if let Ok(time) = UtcTime::parse(text, flag) {
        return Ok(time);
    }
    let duration = humantime::parse_duration(text).map_err(|_| {
        anyhow::anyhow!("{flag} `{text}` is neither YYYY-MM-DDTHH:MM:SSZ nor a duration like `30d`")
    })?;
    Ok(now.plus_seconds(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)))
}

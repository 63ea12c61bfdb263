//! `wharf admin root-key new` and `wharf admin keyset request|sign|install`: the next keyset
//! signed by a root key kept on another machine.
//!
//! On the registry: `keyset request` writes the unsigned text of keyset version N+1 (new
//! online keys wait under `<data>/keys/next-<N+1>/`). On the offline machine: `keyset sign`
//! signs it with a root key file, once per root key (the old root and, when it changes, the
//! new one; each run adds its signature). Back on the registry: `keyset install` checks the
//! signed keyset against the newest one and puts it and the new online keys in place; the
//! server uses them from its next start.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wharf_trust::{KdfParams, KeyFileProtection, Keyset, Note, PublicKey, SigningKey};

use crate::registry_api::{load_key, passphrase};
use crate::settings::default_data_dir;

/// `wharf admin keyset …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysetCommand {
    /// Write the unsigned next keyset for signing on the machine that holds the root key.
    Request(RequestArgs),
    /// Sign a keyset request (or add a signature to a signed one) with a root key file.
    Sign(SignArgs),
    /// Install a signed next keyset; a running server uses it from its next request.
    Install(InstallArgs),
}

/// `wharf admin root-key new`.
#[derive(Debug, Args)]
pub(crate) struct RootKeyNewArgs {
    /// Where to write the root key file (refused if it exists); keep it offline.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The environment variable holding a passphrase to encrypt the file with.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

/// `wharf admin keyset request`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// Data directory of the registry [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Where to write the request (the keyset text to sign).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The new root public key (`wharf-ed25519:…`, as `root-key new` prints it)
    /// [default: keep the current root key].
    #[arg(long, value_name = "KEY")]
    new_root: Option<String>,
    /// Make new log, timestamp and release keys (clients then drop the state the old ones
    /// signed).
    #[arg(long)]
    rotate_online: bool,
    /// How long the new keyset is valid (`365d`, `90d`).
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_lifetime)]
    valid_for: i64,
    /// Sign this entitlement key into the keyset (a public key `wharf-ed25519:…` or a key
    /// file; repeat for more). The keyset keeps the ones it has.
    #[arg(long, value_name = "KEY")]
    add_entitlement_key: Vec<String>,
    /// Leave this entitlement key out of the keyset (repeat for more).
    #[arg(long, value_name = "KEY")]
    remove_entitlement_key: Vec<String>,
}

/// `wharf admin keyset sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The root key file.
    #[arg(long, value_name = "FILE")]
    root_key: PathBuf,
    /// The environment variable holding the root key file's passphrase.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
    /// The request, or a keyset another root key signed already.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Where to write the signed keyset (refused if it exists).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `wharf admin keyset install`.
#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// Data directory of the registry [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// The signed keyset.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
}

fn parse_lifetime(text: &str) -> Result<i64, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        format!("`{text}` is not a duration ({error}); write it like `365d` or `90d`")
    })?;
    let seconds = i64::try_from(duration.as_secs()).map_err(|_| format!("`{text}` is too long"))?;
    if seconds < 24 * 3600 {
        return Err(format!(
            "`{text}` is under a day; give a keyset at least a day"
        ));
    }
    Ok(seconds)
}

/// Writes `text` to a new file (mode 0600), never replacing one.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create `{}` (an existing file is never replaced; choose another path)",
            path.display()
        )
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// `wharf admin root-key new`.
pub(crate) fn root_key_new(args: &RootKeyNewArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::generate();
    let secret = args.passphrase_env.as_deref().map(passphrase).transpose()?;
    let protection = match &secret {
        Some(secret) => KeyFileProtection::Passphrase {
            passphrase: secret.as_bytes(),
            params: KdfParams::default(),
        },
        None => KeyFileProtection::Unencrypted,
    };
    write_new(&args.out, &key.to_key_file(protection)?)?;
    println!("{}", key.public_key());
    Ok(ExitCode::SUCCESS)
}

/// Runs a keyset subcommand.
pub(crate) fn run(command: KeysetCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysetCommand::Request(args) => request(&args),
        KeysetCommand::Sign(args) => sign(&args),
        KeysetCommand::Install(args) => install(&args),
    }
}

fn request(args: &RequestArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.clone().unwrap_or_else(default_data_dir);
    let new_root = args
        .new_root
        .as_deref()
        .map(PublicKey::parse)
        .transpose()
        .context("--new-root")?;
    let add = parse_keys(&args.add_entitlement_key, "--add-entitlement-key")?;
    let remove = parse_keys(&args.remove_entitlement_key, "--remove-entitlement-key")?;
    let entitlement = next_entitlement_keys(&dir, &add, &remove)?;
    let text = wharf_storage::request_next_keyset(
        &dir,
        new_root,
        args.rotate_online,
        args.valid_for,
        Some(&entitlement),
    )
    .with_context(|| format!("requesting the next keyset of `{}`", dir.display()))?;
    write_new(&args.out, &text)?;
    let keyset = Keyset::parse(&text)?;
    println!(
        "wrote the request for keyset version {} to {}; sign it with `wharf admin keyset sign` where the root key is",
        keyset.version(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let input = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read `{}`", args.input.display()))?;
    // A signed note has a blank line between its text and its signatures.
    let signed = input.contains("\n\n");
    let text = if signed {
        Note::parse(input.as_bytes())
            .with_context(|| format!("`{}` is not a signed keyset", args.input.display()))?
            .text()
            .to_owned()
    } else {
        input.clone()
    };
    let keyset = Keyset::parse(&text)
        .with_context(|| format!("`{}` is not a keyset", args.input.display()))?;
    let key = load_key(&args.root_key, args.passphrase_env.as_deref())?;
    let note = keyset.sign(&[&key])?;
    let output = if signed {
        let (_, signature_lines) = note
            .split_once("\n\n")
            .context("a signed note has signature lines")?;
        format!("{input}{signature_lines}")
    } else {
        note
    };
    Note::parse(output.as_bytes()).context("the signed keyset")?;
    write_new(&args.out, &output)?;
    println!(
        "signed keyset version {} with root key {}{}",
        keyset.version(),
        key.key_id().short(),
        if key.public_key() == *keyset.key(wharf_trust::KeyRole::Root) {
            " (its own root)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn install(args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.clone().unwrap_or_else(default_data_dir);
    let note = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read `{}`", args.input.display()))?;
    if !dir.join(wharf_storage::KEYS_DIR).is_dir() {
        bail!(
            "no registry keys in `{}`; point to the registry's data directory with `--data DIR`",
            dir.display()
        );
    }
    let keyset = wharf_storage::install_next_keyset(&dir, &note)
        .with_context(|| format!("installing `{}`", args.input.display()))?;
    sync_entitlement_keys(&dir, keyset.entitlement_keys())?;
    println!(
        "installed keyset version {}, valid until {}; the running `wharf serve` uses it from its next request",
        keyset.version(),
        keyset.expires()
    );
    Ok(ExitCode::SUCCESS)
}

/// Public keys given on the command line: `wharf-ed25519:…`, or a key file to read one from.
fn parse_keys(values: &[String], flag: &str) -> anyhow::Result<Vec<PublicKey>> {
    values
        .iter()
        .map(|value| {
            PublicKey::parse(value.trim()).or_else(|_| {
                let text = std::fs::read_to_string(value).with_context(|| {
                    format!("{flag} `{value}` is neither a public key `wharf-ed25519:…` nor a readable key file")
                })?;
                wharf_trust::key_file_public_key(&text)
                    .or_else(|_| PublicKey::parse(text.trim()))
                    .with_context(|| format!("{flag} `{value}`: no public key in the file"))
            })
        })
        .collect()
}

fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(work)
}

/// The entitlement keys of the next keyset of `dir`: the current keyset's, those the
/// registry trusted before entitlement keys were signed into the keyset (kept in its
/// database only), plus `add`, minus `remove`.
fn next_entitlement_keys(
    dir: &Path,
    add: &[PublicKey],
    remove: &[PublicKey],
) -> anyhow::Result<Vec<PublicKey>> {
    let current = wharf_storage::current_keyset(dir)?;
    let stored = block_on(async {
        let storage = crate::settings::open_existing_storage(dir).await?;
        Ok(storage.entitlement_info()?.keys)
    })?;
    merge_entitlement_keys(&current, &stored, add, remove)
        .with_context(|| format!("a stored entitlement key of `{}` is damaged", dir.display()))
}

/// `current`'s entitlement keys and the `stored` ones, plus `add`, minus `remove`.
pub(crate) fn merge_entitlement_keys(
    current: &Keyset,
    stored: &[String],
    add: &[PublicKey],
    remove: &[PublicKey],
) -> Result<Vec<PublicKey>, wharf_trust::TrustError> {
    let mut keys: Vec<PublicKey> = current.entitlement_keys().to_vec();
    for text in stored {
        keys.push(PublicKey::parse(text)?);
    }
    keys.extend_from_slice(add);
    keys.retain(|key| !remove.contains(key));
    keys.sort_by_key(PublicKey::to_text);
    keys.dedup();
    Ok(keys)
}

/// Makes the registry in `dir` check licences with exactly `keys` (the installed keyset's).
pub(crate) fn sync_entitlement_keys(dir: &Path, keys: &[PublicKey]) -> anyhow::Result<()> {
    block_on(async {
        let storage = crate::settings::open_existing_storage(dir).await?;
        storage.set_entitlement_keys(keys, crate::admin_licence::ADMIN_ACTOR)?;
        Ok(())
    })
}

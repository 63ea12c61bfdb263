//! Signed releases: checking a publisher's release statement against the upload and the
//! package's publisher keys, and binding a key on a package's first signed release.
//!
//! - The statement must be a release statement for this registry's origin, the upload's
//!   name, version and `.crate` hash, dated within [`CLOCK_WINDOW_SECONDS`] of the registry's
//!   clock, and its `entry` must be the hash of the index line the registry derives from
//!   the upload with `pubtime` set to the statement's `time` (the registry uses that time as
//!   the version's `pubtime`, so the publisher can compute the line before uploading).
//! - A package with publisher keys accepts only releases signed by one of them, valid now
//!   (`wharf_trust::OwnerKeys::verify`): an unsigned upload, an unknown, revoked or
//!   compromised key is refused, whoever's token sent it.
//! - A package without keys accepts an unsigned upload unless the registry requires
//!   signatures. A signed one binds its key (trust on first use) when the key is registered
//!   to the uploader and not revoked, and the upload carries that key's self-signed
//!   owner-key-add statement, which the log records before the release.

use serde_json::json;
use wharf_trust::{Hash, PublicKey, Statement, StatementBody, StatementSignature};

use crate::StorageError;
use crate::publisher_keys::{
    CLOCK_WINDOW_SECONDS, bind, check_clock, live_key_of_user, package_owner_keys,
};
use crate::queries::{PackageRow, insert_event};
use crate::sql::{Sql, args};
use crate::{EventKind, Principal};

/// A release statement and its signatures, sent with an upload by `wharf publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRelease {
    /// The `wharf-release-v1` statement.
    pub statement: Statement,
    /// Signatures over it, by distinct keys.
    pub signatures: Vec<StatementSignature>,
    /// The `wharf-owner-key-add-v1` statement for the signing key and that key's own
    /// signature over it: used when this release binds the key (the package has no key yet).
    pub key_statement: Option<(Statement, StatementSignature)>,
}

/// How a publish is signed, and whether the registry requires it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseSigning {
    /// The publisher's statement and signatures, if the upload carries them.
    pub signed: Option<SignedRelease>,
    /// Refuse unsigned releases (`require-signatures`).
    pub require_signatures: bool,
}

/// What a checked publish does with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyPlan {
    /// Unsigned, and the package needs no signature.
    Unsigned,
    /// Signed by the package's publisher keys; these signatures go into the release leaf.
    Verified(Vec<StatementSignature>),
    /// The package's first signed release: bind the key, logging its owner-key-add
    /// statement.
    Bind(Box<Binding>),
}

/// A key bound by a package's first signed release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    /// The key to bind.
    key: PublicKey,
    /// Its release signature.
    signature: StatementSignature,
    /// Its owner-key-add statement.
    add: Statement,
    /// The key's signature over `add`.
    add_signature: StatementSignature,
}

fn invalid(reason: String) -> StorageError {
    StorageError::InvalidSignature { reason }
}

/// Checks that the statement describes this upload exactly: the origin, name, version,
/// `.crate` hash, a time near `now`, and the hash of `published_line` (the line the
/// registry stores, `pubtime` being the statement's time).
pub(crate) fn check_statement_matches(
    signed: &SignedRelease,
    origin: &str,
    name: &str,
    version: &str,
    cksum: &str,
    published_line: &str,
    now: i64,
) -> Result<(), StorageError> {
    let statement = &signed.statement;
    let StatementBody::Release {
        version: signed_version,
        cksum: signed_cksum,
        entry,
    } = statement.body()
    else {
        return Err(invalid(format!(
            "the `Wharf-Release-Statement` is a {}, not a release statement",
            statement.describe()
        )));
    };
    if statement.origin() != origin {
        return Err(invalid(format!(
            "the release statement is for registry `{}`, not this one (`{origin}`); sign it for this registry",
            statement.origin()
        )));
    }
    if statement.name() != name || signed_version != version {
        return Err(invalid(format!(
            "the release statement is for {} {signed_version}, but the upload is {name} {version}",
            statement.name()
        )));
    }
    if signed_cksum.to_hex() != cksum {
        return Err(invalid(format!(
            "the release statement names .crate hash {}, but the uploaded .crate hashes to {cksum}; sign the file you upload",
            signed_cksum.to_hex()
        )));
    }
    check_clock(statement.time(), now, "release statement")?;
    let derived = Hash::sha256(published_line.as_bytes());
    if *entry != derived {
        return Err(invalid(format!(
            "the release statement's entry hash {} is not the hash of the index line the registry derives from this upload ({derived}); compute it with `wharf publish`",
            entry.to_hex()
        )));
    }
    if signed.signatures.is_empty() {
        return Err(invalid(
            "the release statement carries no `Wharf-Signature`".to_owned(),
        ));
    }
    Ok(())
}

/// Decides what the signatures of a publish do (see the module documentation). `package`
/// is the existing package, `None` for a new one.
pub(crate) fn plan_signing(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    package: Option<&PackageRow>,
    signing: &ReleaseSigning,
    origin: &str,
    now: i64,
) -> Result<KeyPlan, StorageError> {
    let owner_keys = package
        .map(|package| package_owner_keys(conn, package.id, &package.name))
        .transpose()?;
    let has_keys = owner_keys
        .as_ref()
        .is_some_and(|keys| !keys.keys().is_empty());
    let Some(signed) = &signing.signed else {
        if has_keys {
            return Err(StorageError::KeyNotAllowed {
                reason: format!(
                    "crate `{name}` has publisher keys, so its releases must be signed by one of them: publish with `wharf publish --key FILE`"
                ),
            });
        }
        if signing.require_signatures {
            return Err(StorageError::SignatureRequired);
        }
        return Ok(KeyPlan::Unsigned);
    };
    if let Some(owner_keys) = owner_keys.filter(|_| has_keys) {
        let time = wharf_trust::UtcTime::from_unix(now)?;
        return match owner_keys.verify(&signed.statement, &signed.signatures, time) {
            Ok(counted) => Ok(KeyPlan::Verified(
                signed
                    .signatures
                    .iter()
                    .filter(|signature| counted.contains(&signature.key_id))
                    .copied()
                    .collect(),
            )),
            Err(error @ wharf_trust::TrustError::BadSignature { .. }) => Err(invalid(format!(
                "{error}: sign the release statement again with `wharf publish --key FILE`"
            ))),
            Err(error) => Err(StorageError::KeyNotAllowed {
                reason: format!(
                    "{error}; sign with a current publisher key of `{name}` (`wharf keys list` shows yours)"
                ),
            }),
        };
    }
    plan_binding(conn, who, name, signed, origin, now)
}

/// The first signed release of a package: the signing key must be the uploader's.
fn plan_binding(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    signed: &SignedRelease,
    origin: &str,
    now: i64,
) -> Result<KeyPlan, StorageError> {
    let mut found = None;
    for signature in &signed.signatures {
        if let Some(key) = live_key_of_user(conn, who.user_id, &signature.key_id.to_string())? {
            found = Some((key, *signature));
            break;
        }
    }
    let Some((key, signature)) = found else {
        let ids: Vec<String> = signed
            .signatures
            .iter()
            .map(|signature| signature.key_id.short())
            .collect();
        return Err(StorageError::KeyNotAllowed {
            reason: format!(
                "key {} is not a registered, unrevoked key of user `{}`; register it with `wharf keys register` (`wharf keys list` shows yours)",
                ids.join(", "),
                who.login
            ),
        });
    };
    signed
        .statement
        .verify(&signature, &key)
        .map_err(|error| invalid(format!("{error}: sign the release statement again")))?;
    let Some((add, add_signature)) = &signed.key_statement else {
        return Err(invalid(format!(
            "the first signed release of `{name}` makes key {} its publisher key and needs the key's owner-key-add statement (`Wharf-Key-Statement`, `Wharf-Key-Signature`); publish with `wharf publish --key FILE`",
            key.key_id().short()
        )));
    };
    let adds_this_key =
        matches!(add.body(), StatementBody::OwnerKeyAdd { key: added } if *added == key);
    if !adds_this_key || add.name() != name || add.origin() != origin {
        return Err(invalid(format!(
            "the `Wharf-Key-Statement` must add key {} to `{name}` on this registry (`{origin}`), but it is a {}",
            key.key_id().short(),
            add.describe()
        )));
    }
    check_clock(add.time(), now, "owner-key-add statement")?;
    add.verify(add_signature, &key).map_err(|error| {
        invalid(format!(
            "{error}: the owner-key-add statement must be signed by the key it adds"
        ))
    })?;
    Ok(KeyPlan::Bind(Box::new(Binding {
        key,
        signature,
        add: add.clone(),
        add_signature: *add_signature,
    })))
}

/// Whether `plan`, made by [`plan_signing`] before the publish's transaction, still holds
/// inside it: the package's keys did not change meanwhile in a way that matters (a key bound
/// by a racing publish, a key revoked). The signatures were verified when the plan was made
/// and the statement has not changed, so this is a few row reads and no cryptography on the
/// writer thread; when it does not hold, the caller plans again for the precise answer.
pub(crate) fn plan_still_holds(
    conn: &dyn Sql,
    who: &Principal,
    package: Option<&PackageRow>,
    plan: &KeyPlan,
) -> Result<bool, StorageError> {
    let bound = match package {
        Some(package) => conn.one_i64(
            "SELECT count(*) FROM package_keys WHERE package_id = ?1",
            args![package.id],
        )?,
        None => 0,
    };
    Ok(match plan {
        KeyPlan::Unsigned => bound == 0,
        KeyPlan::Verified(signatures) => {
            let Some(package) = package else {
                return Ok(false);
            };
            let mut all_live = !signatures.is_empty();
            for signature in signatures {
                all_live &= conn.exists(
                    "SELECT 1 FROM package_keys
                     WHERE package_id = ?1 AND key_id = ?2 AND revoked_at IS NULL",
                    args![package.id, signature.key_id.to_string()],
                )?;
            }
            all_live
        }
        KeyPlan::Bind(binding) => {
            bound == 0
                && conn.exists(
                    "SELECT 1 FROM publisher_keys
                     WHERE key_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
                    args![binding.key.key_id().to_string(), who.user_id],
                )?
        }
    })
}

/// Applies a plan inside the publish transaction, after the package row exists and before
/// its release event: binds the key and logs its owner-key-add event. Returns the release
/// event's extra payload (the statement and the signatures its leaf carries).
pub(crate) fn apply_plan(
    conn: &dyn Sql,
    who: &Principal,
    package_id: i64,
    signing: &ReleaseSigning,
    plan: &KeyPlan,
    now: i64,
) -> Result<Option<serde_json::Value>, StorageError> {
    let signatures = match plan {
        KeyPlan::Unsigned => return Ok(None),
        KeyPlan::Verified(signatures) => signatures.clone(),
        KeyPlan::Bind(binding) => {
            let Binding {
                key,
                signature,
                add,
                add_signature,
            } = binding.as_ref();
            bind(conn, package_id, key, now)?;
            insert_event(
                conn,
                EventKind::OwnerKeyAdd,
                package_id,
                None,
                &who.login,
                now,
                &json!({
                    "key": key.to_text(),
                    "statement": add.to_text(),
                    "signatures": [add_signature.to_text()],
                }),
            )?;
            tracing::info!(user = %who.login, key = %key.key_id().short(), "publisher key bound on first signed release");
            vec![*signature]
        }
    };
    let statement = signing
        .signed
        .as_ref()
        .map(|signed| signed.statement.to_text())
        .ok_or_else(|| StorageError::Corrupt {
            what: "a signed plan without a statement".to_owned(),
        })?;
    let signatures: Vec<String> = signatures.iter().map(StatementSignature::to_text).collect();
    Ok(Some(
        json!({ "statement": statement, "signatures": signatures }),
    ))
}

/// The window, for documentation and messages elsewhere.
pub const SIGNED_TIME_WINDOW_SECONDS: i64 = CLOCK_WINDOW_SECONDS;

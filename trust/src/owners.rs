//! A package's publisher keys over time, and the threshold check of its statements.
//!
//! Times here are the log's times ([`LogEvent::logged`](crate::LogEvent::logged)): when
//! the registry appended the key's addition, its revocation, or the event being checked —
//! never the time a statement claims for itself, which a thief holding the key could
//! backdate. A key is valid at `t` when it was added at or before `t`, is not revoked at or
//! before `t`, and `t` is before the `compromised-since` time its owner declared, if any.
//! Signatures count per distinct key: two signatures by one key count once.

use crate::{
    KeyId, LogEvent, PublicKey, Statement, StatementBody, StatementSignature, TrustError, UtcTime,
};

/// One publisher key of a package and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherKey {
    key: PublicKey,
    added: UtcTime,
    revoked: Option<UtcTime>,
    compromised_since: Option<UtcTime>,
}

impl PublisherKey {
    /// A key added at `added`.
    pub fn new(key: PublicKey, added: UtcTime) -> Self {
        Self {
            key,
            added,
            revoked: None,
            compromised_since: None,
        }
    }

    /// The key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// When it was added.
    pub fn added(&self) -> UtcTime {
        self.added
    }

    /// When it was revoked, if it was.
    pub fn revoked(&self) -> Option<UtcTime> {
        self.revoked
    }

    /// From when it is known to be stolen, if it is.
    pub fn compromised_since(&self) -> Option<UtcTime> {
        self.compromised_since
    }

    /// Whether an event logged at `time` may be signed by this key.
    pub fn is_valid_at(&self, time: UtcTime) -> bool {
        self.added <= time
            && self.revoked.is_none_or(|revoked| time < revoked)
            && self.compromised_since.is_none_or(|since| time < since)
    }

    /// Why the key is not valid at `time`, for messages.
    fn invalid_reason(&self, time: UtcTime) -> String {
        let id = self.key.key_id().short();
        if time < self.added {
            format!("key {id} was added only at {}", self.added)
        } else if let Some(since) = self.compromised_since.filter(|&since| time >= since) {
            format!("key {id} is compromised since {since}")
        } else if let Some(revoked) = self.revoked {
            format!("key {id} was revoked at {revoked}")
        } else {
            format!("key {id} is valid")
        }
    }
}

/// The publisher keys of one package and how many must sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerKeys {
    package: String,
    keys: Vec<PublisherKey>,
    threshold: usize,
}

impl OwnerKeys {
    /// No keys yet; `threshold` (at least 1) distinct valid keys must sign each statement.
    pub fn new(package: &str, threshold: usize) -> Self {
        Self {
            package: package.to_owned(),
            keys: Vec::new(),
            threshold: threshold.max(1),
        }
    }

    /// The package name.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// Every key ever added, in order.
    pub fn keys(&self) -> &[PublisherKey] {
        &self.keys
    }

    /// Adds `key` at `time` (adding a key already present, even revoked, is refused: a
    /// revoked key never comes back).
    pub fn add(&mut self, key: PublicKey, time: UtcTime) -> Result<(), TrustError> {
        if self.keys.iter().any(|known| known.key == key) {
            return Err(TrustError::KeyAlreadyAdded {
                package: self.package.clone(),
                key_id: key.key_id().short(),
            });
        }
        self.keys.push(PublisherKey::new(key, time));
        Ok(())
    }

    /// Revokes `key` at `time`, optionally declaring it compromised since an earlier time.
    pub fn revoke(
        &mut self,
        key: &PublicKey,
        time: UtcTime,
        compromised_since: Option<UtcTime>,
    ) -> Result<(), TrustError> {
        let package = self.package.clone();
        let known = self
            .keys
            .iter_mut()
            .find(|known| known.key == *key && known.revoked.is_none())
            .ok_or_else(|| TrustError::UnknownKey {
                package,
                key_id: key.key_id().short(),
            })?;
        known.revoked = Some(time);
        known.compromised_since = compromised_since.map(|since| since.min(time));
        Ok(())
    }

    /// Checks that `statement`, logged at `time`, carries valid signatures by at least the
    /// threshold of distinct keys valid at `time`. Signatures by keys that are not owner keys
    /// are ignored; a signature that names an owner key but does not verify fails the check.
    /// Returns the ids of the keys that counted.
    pub fn verify(
        &self,
        statement: &Statement,
        signatures: &[StatementSignature],
        time: UtcTime,
    ) -> Result<Vec<KeyId>, TrustError> {
        if statement.name() != self.package {
            return Err(TrustError::WrongPackage {
                expected: self.package.clone(),
                found: statement.name().to_owned(),
            });
        }
        let mut counted: Vec<KeyId> = Vec::new();
        let mut ignored = Vec::new();
        for signature in signatures {
            let Some(known) = self
                .keys
                .iter()
                .find(|known| known.key.key_id() == signature.key_id)
            else {
                continue;
            };
            statement.verify(signature, &known.key)?;
            if !known.is_valid_at(time) {
                ignored.push(known.invalid_reason(time));
            } else if !counted.contains(&signature.key_id) {
                counted.push(signature.key_id);
            }
        }
        if counted.len() < self.threshold {
            return Err(TrustError::ThresholdNotMet {
                document: statement.describe(),
                valid: counted.len(),
                threshold: self.threshold,
                package: self.package.clone(),
                detail: if ignored.is_empty() {
                    String::new()
                } else {
                    format!(" (not counted: {})", ignored.join(", "))
                },
            });
        }
        Ok(counted)
    }

    /// [`OwnerKeys::verify`] for a logged event, then applies it when it adds or revokes a
    /// key, so a replay of the log in order keeps the key set current.
    ///
    /// The first key of a package is trusted on first use: while the package has no key,
    /// only an owner-key-add statement signed by the key it adds is accepted (the publisher
    /// proves it holds the key; the log makes the claim public).
    pub fn apply(&mut self, event: &LogEvent) -> Result<Vec<KeyId>, TrustError> {
        if self.keys.is_empty() {
            return self.apply_first(event);
        }
        let counted = self.verify(event.statement(), event.signatures(), event.logged())?;
        match event.statement().body() {
            StatementBody::OwnerKeyAdd { key } => self.add(*key, event.logged())?,
            StatementBody::OwnerKeyRevoke {
                key,
                compromised_since,
            } => {
                self.revoke(key, event.logged(), *compromised_since)?;
            }
            _ => {}
        }
        Ok(counted)
    }

    fn apply_first(&mut self, event: &LogEvent) -> Result<Vec<KeyId>, TrustError> {
        let statement = event.statement();
        let no_key = || TrustError::ThresholdNotMet {
            document: statement.describe(),
            valid: 0,
            threshold: self.threshold,
            package: self.package.clone(),
            detail:
                " (the package has no key yet: its first event must add a key, signed by that key)"
                    .to_owned(),
        };
        let StatementBody::OwnerKeyAdd { key } = statement.body() else {
            return Err(no_key());
        };
        if statement.name() != self.package {
            return Err(TrustError::WrongPackage {
                expected: self.package.clone(),
                found: statement.name().to_owned(),
            });
        }
        let own = event
            .signatures()
            .iter()
            .find(|signature| signature.key_id == key.key_id())
            .ok_or_else(no_key)?;
        statement.verify(own, key)?;
        self.add(*key, event.logged())?;
        Ok(vec![own.key_id])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;
    use crate::statement::tests::release;

    fn time(text: &str) -> UtcTime {
        UtcTime::parse(text, "t").unwrap()
    }

    fn owners(threshold: usize) -> OwnerKeys {
        let mut owners = OwnerKeys::new("demo", threshold);
        owners
            .add(key(1).public_key(), time("2026-01-01T00:00:00Z"))
            .unwrap();
        owners
            .add(key(2).public_key(), time("2026-01-01T00:00:00Z"))
            .unwrap();
        owners
    }

    #[test]
    fn validity_follows_added_revoked_and_compromised_since() {
        let mut k = PublisherKey::new(key(1).public_key(), time("2026-01-01T00:00:00Z"));
        assert!(!k.is_valid_at(time("2025-12-31T23:59:59Z")));
        assert!(k.is_valid_at(time("2026-01-01T00:00:00Z")));
        k.revoked = Some(time("2026-06-01T00:00:00Z"));
        assert!(k.is_valid_at(time("2026-05-31T23:59:59Z")));
        assert!(!k.is_valid_at(time("2026-06-01T00:00:00Z")));
        k.compromised_since = Some(time("2026-03-01T00:00:00Z"));
        assert!(k.is_valid_at(time("2026-02-28T00:00:00Z")));
        assert!(!k.is_valid_at(time("2026-04-01T00:00:00Z")));
    }

    #[test]
    fn duplicate_signatures_by_one_key_count_once_toward_the_threshold() {
        let statement = release("demo", "1.0.0");
        let signature = statement.sign(&key(1));
        let error = owners(2)
            .verify(
                &statement,
                &[signature, signature],
                time("2026-02-01T00:00:00Z"),
            )
            .unwrap_err();
        assert!(
            matches!(
                error,
                TrustError::ThresholdNotMet {
                    valid: 1,
                    threshold: 2,
                    ..
                }
            ),
            "{error}"
        );
        let both = [statement.sign(&key(1)), statement.sign(&key(2))];
        assert_eq!(
            owners(2)
                .verify(&statement, &both, time("2026-02-01T00:00:00Z"))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn unregistered_keys_do_not_count() {
        let statement = release("demo", "1.0.0");
        let error = owners(1)
            .verify(
                &statement,
                &[statement.sign(&key(9))],
                time("2026-02-01T00:00:00Z"),
            )
            .unwrap_err();
        assert!(
            error.to_string().contains("has 0 valid signatures"),
            "{error}"
        );
    }

    #[test]
    fn releases_after_compromised_since_are_refused_and_before_accepted() {
        let mut owners = owners(1);
        owners
            .revoke(
                &key(1).public_key(),
                time("2026-06-01T00:00:00Z"),
                Some(time("2026-03-01T00:00:00Z")),
            )
            .unwrap();
        let statement = release("demo", "1.0.0");
        let signature = [statement.sign(&key(1))];
        owners
            .verify(&statement, &signature, time("2026-02-01T00:00:00Z"))
            .unwrap();
        let error = owners
            .verify(&statement, &signature, time("2026-04-01T00:00:00Z"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("compromised since 2026-03-01T00:00:00Z"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_signature_by_an_owner_key_fails_closed() {
        let statement = release("demo", "1.0.0");
        let other = release("demo", "2.0.0").sign(&key(1));
        assert!(matches!(
            owners(1).verify(
                &statement,
                &[other, statement.sign(&key(2))],
                time("2026-02-01T00:00:00Z")
            ),
            Err(TrustError::BadSignature { .. })
        ));
    }

    #[test]
    fn statements_for_another_package_are_refused() {
        let statement = release("other", "1.0.0");
        let error = owners(1)
            .verify(
                &statement,
                &[statement.sign(&key(1))],
                time("2026-02-01T00:00:00Z"),
            )
            .unwrap_err();
        assert!(matches!(error, TrustError::WrongPackage { .. }));
    }

    #[test]
    fn the_first_key_is_trusted_on_first_use_only_when_self_signed() {
        let add = |added: u8| {
            Statement::new(
                "wharf.example.com",
                "demo",
                StatementBody::OwnerKeyAdd {
                    key: key(added).public_key(),
                },
                time("2026-01-01T00:00:00Z"),
            )
            .unwrap()
        };
        let logged = time("2026-01-01T00:00:01Z");
        let mut owners = OwnerKeys::new("demo", 1);
        let by_other = LogEvent::new(add(1), logged, vec![add(1).sign(&key(2))]).unwrap();
        assert!(matches!(
            owners.apply(&by_other),
            Err(TrustError::ThresholdNotMet { .. })
        ));
        let release = release("demo", "1.0.0");
        let early = LogEvent::new(release.clone(), logged, vec![release.sign(&key(1))]).unwrap();
        let error = owners.apply(&early).unwrap_err().to_string();
        assert!(error.contains("has no key yet"), "{error}");
        let own = LogEvent::new(add(1), logged, vec![add(1).sign(&key(1))]).unwrap();
        owners.apply(&own).unwrap();
        assert_eq!(owners.keys().len(), 1);
        owners.apply(&early).unwrap();
    }

    #[test]
    fn applying_key_events_in_log_order() {
        let mut owners = OwnerKeys::new("demo", 1);
        owners
            .add(key(1).public_key(), time("2026-01-01T00:00:00Z"))
            .unwrap();
        let add = Statement::new(
            "wharf.example.com",
            "demo",
            StatementBody::OwnerKeyAdd {
                key: key(3).public_key(),
            },
            time("2026-02-01T00:00:00Z"),
        )
        .unwrap();
        let signatures = vec![add.sign(&key(1))];
        owners
            .apply(&LogEvent::new(add, time("2026-02-01T00:00:05Z"), signatures).unwrap())
            .unwrap();
        let revoke = Statement::new(
            "wharf.example.com",
            "demo",
            StatementBody::OwnerKeyRevoke {
                key: key(1).public_key(),
                compromised_since: None,
            },
            time("2026-03-01T00:00:00Z"),
        )
        .unwrap();
        let signatures = vec![revoke.sign(&key(3))];
        owners
            .apply(&LogEvent::new(revoke, time("2026-03-01T00:00:05Z"), signatures).unwrap())
            .unwrap();
        let statement = release("demo", "1.0.0");
        assert!(
            owners
                .verify(
                    &statement,
                    &[statement.sign(&key(1))],
                    time("2026-04-01T00:00:00Z")
                )
                .is_err()
        );
        owners
            .verify(
                &statement,
                &[statement.sign(&key(3))],
                time("2026-04-01T00:00:00Z"),
            )
            .unwrap();
        assert!(matches!(
            owners.add(key(1).public_key(), time("2026-05-01T00:00:00Z")),
            Err(TrustError::KeyAlreadyAdded { .. })
        ));
    }
}

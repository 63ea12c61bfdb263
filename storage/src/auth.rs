//! Token scopes, token requests and records, the secret itself, and the authenticated principal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::roles::roles_allowed;
use crate::{Action, Role, StorageError};

/// What a token may do. Strings are kebab-case (`publish-new`, `publish-update`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Publish the first version of a new package.
    PublishNew,
    /// Publish further versions of a package the user owns.
    PublishUpdate,
    /// Yank and unyank versions of a package the user owns.
    Yank,
    /// Add and remove owners of a package the user owns.
    Owners,
    /// Read the index and download (for `auth-required` registries).
    Read,
}

impl Scope {
    /// Every scope, in declaration order.
    pub const ALL: [Scope; 5] = [
        Scope::PublishNew,
        Scope::PublishUpdate,
        Scope::Yank,
        Scope::Owners,
        Scope::Read,
    ];

    /// The kebab-case string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublishNew => "publish-new",
            Self::PublishUpdate => "publish-update",
            Self::Yank => "yank",
            Self::Owners => "owners",
            Self::Read => "read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| StorageError::UnknownScope {
                scope: text.to_owned(),
            })
    }
}

/// A request to create a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The login of the token's user; the user is created if it does not exist.
    pub user: String,
    /// What the token may do.
    pub scopes: Vec<Scope>,
    /// Expiry as unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Glob patterns (`*` wildcard, compared ignoring case and `-`/`_`) of the package names
    /// the token may act on; empty means any name.
    pub name_patterns: Vec<String>,
    /// A free-form label for the person managing tokens.
    pub label: Option<String>,
}

/// What is stored about a token (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token's id.
    pub id: i64,
    /// The login of its user.
    pub user: String,
    /// What the token may do.
    pub scopes: Vec<Scope>,
    /// Expiry as unix seconds.
    pub expires_at: Option<i64>,
    /// The name patterns it is restricted to; empty means any name.
    pub name_patterns: Vec<String>,
    /// The free-form label.
    pub label: Option<String>,
    /// Creation time as unix seconds.
    pub created_at: i64,
    /// Whether the token was revoked.
    pub revoked: bool,
    /// The role the token is narrowed to, if any.
    pub role: Option<Role>,
}

/// A freshly created token: its record and the secret, which is shown once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    /// The stored record.
    pub info: TokenInfo,
    /// The secret to hand to the user.
    pub secret: SecretToken,
}

/// Prefix of every token Wharf issues.
pub(crate) const TOKEN_PREFIX: &str = "wharf_";

/// A token secret: `wharf_` followed by 32 random bytes in lowercase hex.
/// `Debug` and `Display` redact it; call [`SecretToken::expose`] to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// Draws a new random secret from the operating system's generator.
    pub(crate) fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
    }

    /// The secret itself, to show the user once or to send as `Authorization`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TOKEN_PREFIX}…[redacted]")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TOKEN_PREFIX}…[redacted]")
    }
}

/// The lowercase hex SHA-256 of a presented token: the only form stored.
pub(crate) fn token_digest(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

/// Who is acting, as established by [`crate::Storage::authenticate`]. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's id.
    pub user_id: i64,
    /// The user's login.
    pub login: String,
    /// The id of the token used.
    pub token_id: i64,
    /// The token's scopes.
    pub scopes: Vec<Scope>,
    /// The token's name patterns; empty means any name.
    pub name_patterns: Vec<String>,
    /// The user's role.
    pub role: Role,
    /// The role the token is narrowed to, if any (never above `role`).
    pub token_role: Option<Role>,
    /// When the token expires (Unix seconds), if ever.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// Whether both the user's role and the token's narrowed role (if any) allow `action`.
    pub fn allows(&self, action: Action) -> bool {
        self.role.allows(action) && self.token_role.is_none_or(|role| role.allows(action))
    }

    /// The role that decides: the token's narrowed role when it has one, else the user's.
    pub fn effective_role(&self) -> Role {
        self.token_role.unwrap_or(self.role)
    }

    /// Fails with [`StorageError::NotPermitted`] (naming `what` was tried and which roles
    /// may) unless [`Principal::allows`] `action`.
    pub fn require(&self, action: Action, what: &str) -> Result<(), StorageError> {
        if self.allows(action) {
            return Ok(());
        }
        let role = if self.role.allows(action) {
            self.effective_role()
        } else {
            self.role
        };
        Err(StorageError::NotPermitted {
            login: self.login.clone(),
            role,
            action,
            what: what.to_owned(),
            allowed: roles_allowed(action),
        })
    }

    /// Fails with [`StorageError::MissingScope`] unless the token has `scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<(), StorageError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(StorageError::MissingScope { scope })
        }
    }

    /// Fails with [`StorageError::NameNotAllowed`] unless the token's patterns allow `name`.
    pub fn require_name(&self, name: &str) -> Result<(), StorageError> {
        if self.name_patterns.is_empty()
            || self
                .name_patterns
                .iter()
                .any(|pattern| name_matches(pattern, name))
        {
            Ok(())
        } else {
            Err(StorageError::NameNotAllowed {
                name: name.to_owned(),
                patterns: self.name_patterns.clone(),
            })
        }
    }
}

/// Whether `name` matches the glob `pattern`, where `*` stands for any run of characters and
/// both sides are compared in canonical form (ASCII-lowercase, `-` equal to `_`).
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = wharf_index_format::canonical_name(pattern);
    let name = wharf_index_format::canonical_name(name);
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let middle_and_last: Vec<&str> = pieces.collect();
    let Some((last, middle)) = middle_and_last.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_as_kebab_strings() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
            assert_eq!(
                serde_json::to_string(&scope).unwrap(),
                format!("\"{scope}\"")
            );
        }
        assert!(matches!(
            "publish".parse::<Scope>(),
            Err(StorageError::UnknownScope { scope }) if scope == "publish"
        ));
    }

    #[test]
    fn secrets_are_redacted_and_well_formed() {
        let secret = SecretToken::generate();
        assert_eq!(format!("{secret}"), "wharf_…[redacted]");
        assert_eq!(format!("{secret:?}"), "wharf_…[redacted]");
        let text = secret.expose();
        assert!(text.starts_with(TOKEN_PREFIX));
        assert_eq!(text.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(SecretToken::generate().expose(), text);
        assert_eq!(token_digest(text).len(), 64);
    }

    #[test]
    fn name_patterns_use_star_and_canonical_names() {
        assert!(name_matches("acme-*", "acme-http"));
        assert!(name_matches("acme-*", "Acme_Http"));
        assert!(name_matches("acme-*", "acme-"));
        assert!(!name_matches("acme-*", "acm"));
        assert!(!name_matches("acme-*", "other-acme-x"));
        assert!(name_matches("*-plugin", "sync-plugin"));
        assert!(name_matches("a*b*c", "aXbYc"));
        assert!(!name_matches("a*b*c", "aXcYb"));
        assert!(name_matches("exact", "exact"));
        assert!(!name_matches("exact", "exactly"));
        assert!(name_matches("*", "anything"));
        assert!(!name_matches("ab*ba", "aba"));
    }

    #[test]
    fn principals_check_scopes_and_names() {
        let who = Principal {
            user_id: 1,
            login: "alice".into(),
            token_id: 2,
            scopes: vec![Scope::Yank],
            name_patterns: vec!["acme-*".into()],
            role: Role::Maintainer,
            token_role: Some(Role::Reader),
            expires_at: None,
        };
        assert!(who.allows(Action::Read));
        assert!(!who.allows(Action::Yank));
        assert!(matches!(
            who.require(Action::Yank, "yank"),
            Err(StorageError::NotPermitted {
                role: Role::Reader,
                ..
            })
        ));
        assert!(who.require_scope(Scope::Yank).is_ok());
        assert!(matches!(
            who.require_scope(Scope::Owners),
            Err(StorageError::MissingScope { scope }) if scope == Scope::Owners
        ));
        assert!(who.require_name("acme_db").is_ok());
        assert!(matches!(
            who.require_name("other"),
            Err(StorageError::NameNotAllowed { name, .. }) if name == "other"
        ));
    }
}

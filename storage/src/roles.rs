//! Roles and the permission table: which role may do which action. This table is the one
//! place that decides; `docs/roles.md` shows the same table and a test compares the two.
//!
//! Every user has one role (`maintainer` unless set otherwise; the login `admin` is a
//! tenant admin). A token may be narrowed to a role whose permissions its user's role
//! includes; a narrowed token may do an action only when both roles allow it, so lowering a
//! user's role lowers every token of theirs at once.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::StorageError;

/// What a user (or a narrowed token) is allowed to do in a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, in every package: users, roles, teams, moderation, lifecycle, audit.
    TenantAdmin,
    /// Publishes, yanks and manages the owners of the packages they own.
    Maintainer,
    /// Publishes and yanks the packages they own; cannot change who owns them.
    Publisher,
    /// Reads the index and downloads; nothing else.
    Reader,
    /// Reads, and reads the audit log.
    Auditor,
}

/// Something a principal may try to do; each maps to one row of the permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Read the index and download (for `auth-required` registries), list owners.
    Read,
    /// Publish the first version of a new package.
    PublishNew,
    /// Publish a new version of a package the user (or one of their teams) owns.
    PublishUpdate,
    /// Yank and unyank versions of an owned package.
    Yank,
    /// Add and remove the owners (users and teams) of an owned package.
    ManageOwners,
    /// Set users' roles and list users.
    ManageUsers,
    /// Create and revoke tokens of other users.
    ManageTokens,
    /// Create teams and change their members.
    ManageTeams,
    /// Hide and restore reviews, list hidden ones.
    ModerateReviews,
    /// Quarantine versions, publish advisories, register webhooks, deprecate any package.
    Lifecycle,
    /// Read the audit log.
    ReadAudit,
    /// Move the registry to another plan of the operator's plans file (its quotas).
    ChangePlan,
}

impl Role {
    /// Every role, in the order of the table's columns.
    pub const ALL: [Role; 5] = [
        Role::TenantAdmin,
        Role::Maintainer,
        Role::Publisher,
        Role::Reader,
        Role::Auditor,
    ];

    /// The role of a user nobody gave one.
    pub const DEFAULT: Role = Role::Maintainer;

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantAdmin => "tenant-admin",
            Self::Maintainer => "maintainer",
            Self::Publisher => "publisher",
            Self::Reader => "reader",
            Self::Auditor => "auditor",
        }
    }

    fn column(self) -> usize {
        match self {
            Self::TenantAdmin => 0,
            Self::Maintainer => 1,
            Self::Publisher => 2,
            Self::Reader => 3,
            Self::Auditor => 4,
        }
    }

    /// Whether the role allows `action` (the permission table's cell).
    pub fn allows(self, action: Action) -> bool {
        PERMISSIONS
            .iter()
            .find(|(row, _)| *row == action)
            .is_some_and(|(_, cells)| cells[self.column()])
    }

    /// Whether every action this role allows, `other` allows too (a token narrowed to this
    /// role stays within a user of role `other`).
    pub fn within(self, other: Role) -> bool {
        Action::ALL
            .into_iter()
            .all(|action| !self.allows(action) || other.allows(action))
    }
}

impl Action {
    /// Every action, in the order of the table's rows.
    pub const ALL: [Action; 12] = [
        Action::Read,
        Action::PublishNew,
        Action::PublishUpdate,
        Action::Yank,
        Action::ManageOwners,
        Action::ManageUsers,
        Action::ManageTokens,
        Action::ManageTeams,
        Action::ModerateReviews,
        Action::Lifecycle,
        Action::ReadAudit,
        Action::ChangePlan,
    ];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::PublishNew => "publish-new",
            Self::PublishUpdate => "publish-update",
            Self::Yank => "yank",
            Self::ManageOwners => "manage-owners",
            Self::ManageUsers => "manage-users",
            Self::ManageTokens => "manage-tokens",
            Self::ManageTeams => "manage-teams",
            Self::ModerateReviews => "moderate-reviews",
            Self::Lifecycle => "lifecycle",
            Self::ReadAudit => "read-audit",
            Self::ChangePlan => "change-plan",
        }
    }
}

const Y: bool = true;
const N: bool = false;

/// The permission table: for each action, whether each role (in [`Role::ALL`] order:
/// tenant admin, maintainer, publisher, reader, auditor) may do it.
pub const PERMISSIONS: [(Action, [bool; 5]); 12] = [
    (Action::Read, [Y, Y, Y, Y, Y]),
    (Action::PublishNew, [Y, Y, Y, N, N]),
    (Action::PublishUpdate, [Y, Y, Y, N, N]),
    (Action::Yank, [Y, Y, Y, N, N]),
    (Action::ManageOwners, [Y, Y, N, N, N]),
    (Action::ManageUsers, [Y, N, N, N, N]),
    (Action::ManageTokens, [Y, N, N, N, N]),
    (Action::ManageTeams, [Y, N, N, N, N]),
    (Action::ModerateReviews, [Y, N, N, N, N]),
    (Action::Lifecycle, [Y, N, N, N, N]),
    (Action::ReadAudit, [Y, N, N, N, Y]),
    (Action::ChangePlan, [Y, N, N, N, N]),
];

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text.trim())
            .ok_or_else(|| StorageError::UnknownRole {
                role: text.to_owned(),
            })
    }
}

impl FromStr for Action {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == text.trim())
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("`{text}` is not an action"),
            })
    }
}

/// The roles allowed `action`, for error messages (`tenant-admin or auditor`).
pub(crate) fn roles_allowed(action: Action) -> String {
    let names: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|role| role.allows(action))
        .map(Role::as_str)
        .collect();
    names.join(" or ")
}

/// The permission table as Markdown, exactly as `docs/roles.md` shows it.
pub fn permission_table_markdown() -> String {
    let mut text = String::from("| action |");
    for role in Role::ALL {
        let _ = write!(text, " {role} |");
    }
    text.push_str("\n|---|");
    for _ in Role::ALL {
        text.push_str("---|");
    }
    text.push('\n');
    for action in Action::ALL {
        let _ = write!(text, "| {action} |");
        for role in Role::ALL {
            text.push_str(if role.allows(action) {
                " yes |"
            } else {
                " no |"
            });
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_action_once_in_order() {
        let rows: Vec<Action> = PERMISSIONS.iter().map(|(action, _)| *action).collect();
        assert_eq!(rows, Action::ALL.to_vec());
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>().unwrap(), action);
        }
        assert!(matches!(
            "root".parse::<Role>(),
            Err(StorageError::UnknownRole { role }) if role == "root"
        ));
    }

    #[test]
    fn narrowing_follows_the_permission_sets() {
        for role in Role::ALL {
            assert!(role.within(Role::TenantAdmin));
            assert!(Role::Reader.within(role));
            assert!(role.within(role));
        }
        assert!(Role::Publisher.within(Role::Maintainer));
        assert!(!Role::Maintainer.within(Role::Publisher));
        assert!(!Role::Auditor.within(Role::Maintainer));
        assert!(!Role::TenantAdmin.within(Role::Maintainer));
    }

    #[test]
    fn refusals_name_the_roles_that_may() {
        assert_eq!(roles_allowed(Action::ReadAudit), "tenant-admin or auditor");
        assert_eq!(roles_allowed(Action::ManageUsers), "tenant-admin");
    }
}

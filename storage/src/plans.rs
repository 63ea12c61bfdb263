//! Plans: named sets of entitlements (storage bytes, packages, private packages, seats,
//! monthly download bytes, publishes per hour) read from the operator's TOML plans file.
//!
//! ```toml
//! [plans.free]
//! storage-bytes = "1 GiB"
//! packages = 50
//! private-packages = 0
//! seats = 3
//! monthly-download-bytes = "10 GiB"
//! publishes-per-hour = 60
//! ```
//!
//! A key left out is unlimited. Sizes are a whole number of bytes or a text `bytesize` reads
//! (`"1 GiB"`, `"500 MB"`); counts are whole numbers. Every mistake is one line naming the
//! file, the key and what is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::StorageError;

/// One metered entitlement of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Entitlement {
    /// Bytes of the `.crate` blobs the registry's versions reference.
    StorageBytes,
    /// Packages in the registry.
    Packages,
    /// Packages only authenticated users can read: every package of a registry served with
    /// `auth-required`, none otherwise (Wharf has no per-package visibility).
    PrivatePackages,
    /// Users with a live (unrevoked, unexpired) token, the built-in `admin` left out.
    Seats,
    /// Bytes of blobs downloaded this calendar month (UTC).
    MonthlyDownloadBytes,
    /// Versions published in the last hour.
    PublishesPerHour,
}

impl Entitlement {
    /// Every entitlement, in the order they are shown.
    pub const ALL: [Entitlement; 6] = [
        Self::StorageBytes,
        Self::Packages,
        Self::PrivatePackages,
        Self::Seats,
        Self::MonthlyDownloadBytes,
        Self::PublishesPerHour,
    ];

    /// The key in the plans file, e.g. `storage-bytes`.
    pub fn key(self) -> &'static str {
        match self {
            Self::StorageBytes => "storage-bytes",
            Self::Packages => "packages",
            Self::PrivatePackages => "private-packages",
            Self::Seats => "seats",
            Self::MonthlyDownloadBytes => "monthly-download-bytes",
            Self::PublishesPerHour => "publishes-per-hour",
        }
    }

    /// The metric name part, e.g. `storage_bytes`.
    pub fn metric_name(self) -> String {
        self.key().replace('-', "_")
    }

    /// Whether the amount is bytes (shown as sizes) rather than a count.
    pub fn is_bytes(self) -> bool {
        matches!(self, Self::StorageBytes | Self::MonthlyDownloadBytes)
    }

    /// `amount` as a person reads it: `1.0 GiB` (and the exact bytes) for sizes, the number
    /// otherwise.
    pub fn show(self, amount: u64) -> String {
        if self.is_bytes() {
            let shown = bytesize::ByteSize::b(amount).display().iec().to_string();
            if amount < 1024 {
                shown
            } else {
                format!("{shown} ({amount} bytes)")
            }
        } else {
            amount.to_string()
        }
    }

    fn index(self) -> usize {
        match self {
            Self::StorageBytes => 0,
            Self::Packages => 1,
            Self::PrivatePackages => 2,
            Self::Seats => 3,
            Self::MonthlyDownloadBytes => 4,
            Self::PublishesPerHour => 5,
        }
    }
}

impl fmt::Display for Entitlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The limits of one plan; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits([Option<u64>; 6]);

impl Limits {
    /// No limit at all (a registry without a plan).
    pub const UNLIMITED: Limits = Limits([None; 6]);

    /// The limit of `entitlement`, `None` when unlimited.
    pub fn get(&self, entitlement: Entitlement) -> Option<u64> {
        self.0[entitlement.index()]
    }

    /// The limits as a JSON object of plans-file keys (unlimited ones left out), as the
    /// database keeps them.
    pub(crate) fn to_json(self) -> String {
        let object: serde_json::Map<String, serde_json::Value> = Entitlement::ALL
            .into_iter()
            .filter_map(|e| Some((e.key().to_owned(), self.get(e)?.into())))
            .collect();
        serde_json::Value::Object(object).to_string()
    }

    /// Reads [`Limits::to_json`]'s text; keys it does not know are ignored.
    pub(crate) fn from_json(text: &str) -> Result<Limits, StorageError> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| StorageError::Corrupt {
                what: format!("stored plan limits `{text}`: {e}"),
            })?;
        let mut limits = Limits::UNLIMITED;
        for entitlement in Entitlement::ALL {
            limits.set(
                entitlement,
                object
                    .get(entitlement.key())
                    .and_then(serde_json::Value::as_u64),
            );
        }
        Ok(limits)
    }

    /// Sets the limit of `entitlement` (`None`: unlimited).
    pub fn set(&mut self, entitlement: Entitlement, limit: Option<u64>) {
        self.0[entitlement.index()] = limit;
    }
}

/// The plans of a plans file, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plans {
    plans: BTreeMap<String, Limits>,
}

impl Plans {
    /// Reads and checks a plans file.
    pub fn load(path: &Path) -> Result<Plans, StorageError> {
        let text = std::fs::read_to_string(path).map_err(|cause| StorageError::PlansFile {
            file: path.display().to_string(),
            key: String::new(),
            reason: format!("cannot be read ({cause}); give the path of a readable TOML file"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a plans file named `file` (for messages).
    pub fn parse(text: &str, file: &str) -> Result<Plans, StorageError> {
        let fail = |key: &str, reason: String| StorageError::PlansFile {
            file: file.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map_or(0, |span| text[..span.start].matches('\n').count() + 1);
            fail(
                &format!("line {line}"),
                format!("is not TOML: {}", error.message().trim().replace('\n', " ")),
            )
        })?;
        let mut plans = BTreeMap::new();
        for (key, value) in &table {
            if key != "plans" {
                return Err(fail(
                    key,
                    "is not a known key; the file holds `[plans.NAME]` tables only".to_owned(),
                ));
            }
            let toml::Value::Table(named) = value else {
                return Err(fail(
                    "plans",
                    "must be a table of plans, e.g. `[plans.free]`".to_owned(),
                ));
            };
            for (name, plan) in named {
                check_plan_name(name).map_err(|reason| fail(&format!("plans.{name}"), reason))?;
                let limits =
                    parse_limits(name, plan).map_err(|(key, reason)| fail(&key, reason))?;
                plans.insert(name.clone(), limits);
            }
        }
        Ok(Plans { plans })
    }

    /// The limits of plan `name`, `None` when the file has no such plan.
    pub fn get(&self, name: &str) -> Option<Limits> {
        self.plans.get(name).copied()
    }

    /// The plan names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.plans.keys().cloned().collect()
    }
}

/// A plan name: letters, digits, `-` and `_`, at most 64 characters.
pub(crate) fn check_plan_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fine {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a plan name; use letters, digits, `-` and `_` (at most 64)"
        ))
    }
}

fn parse_limits(name: &str, plan: &toml::Value) -> Result<Limits, (String, String)> {
    let toml::Value::Table(keys) = plan else {
        return Err((
            format!("plans.{name}"),
            "must be a table of limits, e.g. `packages = 50`".to_owned(),
        ));
    };
    let mut limits = Limits::UNLIMITED;
    for (key, value) in keys {
        let path = format!("plans.{name}.{key}");
        let Some(entitlement) = Entitlement::ALL.into_iter().find(|e| e.key() == key) else {
            let known: Vec<&str> = Entitlement::ALL.iter().map(|e| e.key()).collect();
            return Err((
                path,
                format!("is not a known limit; the limits are {}", known.join(", ")),
            ));
        };
        let amount = parse_amount(entitlement, value).map_err(|reason| (path, reason))?;
        limits.set(entitlement, Some(amount));
    }
    Ok(limits)
}

fn parse_amount(entitlement: Entitlement, value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n)
            .map_err(|_| format!("is {n}; a limit is 0 or more (leave the key out for no limit)")),
        toml::Value::String(text) if entitlement.is_bytes() => text
            .trim()
            .parse::<bytesize::ByteSize>()
            .map(|size| size.as_u64())
            .map_err(|_| format!("`{text}` is not a size; write it like \"1 GiB\", \"500 MB\" or a number of bytes")),
        _ if entitlement.is_bytes() => Err(format!(
            "is `{value}`; write a size like \"1 GiB\" or a number of bytes"
        )),
        _ => Err(format!("is `{value}`; write a whole number like 50")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_sizes_and_counts_and_leaves_absent_keys_unlimited() {
        let plans = Plans::parse(
            r#"
[plans.free]
storage-bytes = "1 GiB"
packages = 50
private-packages = 0
seats = 3
monthly-download-bytes = "10 GiB"
publishes-per-hour = 60

[plans.team]
storage-bytes = 2048
"#,
            "plans.toml",
        )
        .unwrap();
        assert_eq!(plans.names(), ["free", "team"]);
        let free = plans.get("free").unwrap();
        assert_eq!(free.get(Entitlement::StorageBytes), Some(1 << 30));
        assert_eq!(free.get(Entitlement::MonthlyDownloadBytes), Some(10 << 30));
        assert_eq!(free.get(Entitlement::Packages), Some(50));
        assert_eq!(free.get(Entitlement::PrivatePackages), Some(0));
        assert_eq!(free.get(Entitlement::Seats), Some(3));
        assert_eq!(free.get(Entitlement::PublishesPerHour), Some(60));
        let team = plans.get("team").unwrap();
        assert_eq!(team.get(Entitlement::StorageBytes), Some(2048));
        assert_eq!(team.get(Entitlement::Packages), None);
        assert_eq!(plans.get("enterprise"), None);
    }

    #[test]
    fn mistakes_name_the_file_the_key_and_the_problem() {
        let cases = [
            (
                "[plans.free]\nstorage-bytes = \"lots\"\n",
                "plans file `p.toml`: `plans.free.storage-bytes`: `lots` is not a size; write it like \"1 GiB\", \"500 MB\" or a number of bytes",
            ),
            (
                "[plans.free]\npackages = -1\n",
                "plans file `p.toml`: `plans.free.packages`: is -1; a limit is 0 or more (leave the key out for no limit)",
            ),
            (
                "[plans.free]\npackages = \"50\"\n",
                "plans file `p.toml`: `plans.free.packages`: is `\"50\"`; write a whole number like 50",
            ),
            (
                "[plans.free]\ndisk = 5\n",
                "plans file `p.toml`: `plans.free.disk`: is not a known limit; the limits are storage-bytes, packages, private-packages, seats, monthly-download-bytes, publishes-per-hour",
            ),
            (
                "[plan.free]\n",
                "plans file `p.toml`: `plan`: is not a known key; the file holds `[plans.NAME]` tables only",
            ),
        ];
        for (text, message) in cases {
            let error = Plans::parse(text, "p.toml").unwrap_err();
            assert_eq!(error.to_string(), message);
        }
        let error = Plans::parse("[plans.free\n", "p.toml").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("plans file `p.toml`: `line 1`: is not TOML:"),
            "{error}"
        );
    }

    #[test]
    fn sizes_are_shown_for_people() {
        assert_eq!(
            Entitlement::StorageBytes.show(1 << 30),
            "1.0 GiB (1073741824 bytes)"
        );
        assert_eq!(Entitlement::StorageBytes.show(100), "100 B");
        assert_eq!(Entitlement::Packages.show(7), "7");
    }
}

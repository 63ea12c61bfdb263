//! The rules for the `Cargo.toml` inside a `.crate` (the manifest cargo normalised at
//! packaging time).

use toml::{Table, Value};

use crate::FormatError;

/// What Wharf reads from a packaged `Cargo.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateManifest {
    /// `package.name`.
    pub name: String,
    /// `package.version`.
    pub version: semver::Version,
    /// `package.links`, if any.
    pub links: Option<String>,
    /// `package.rust-version`, if any.
    pub rust_version: Option<String>,
}

/// Parses a packaged manifest. `path` (its place in the tarball) is only used in messages.
/// Refused as [`FormatError::InvalidManifest`]: not UTF-8, invalid TOML, no `[package]`
/// table, `[patch]` or `[replace]` present, any unresolved `workspace = true`, and a
/// missing or non-semver `name`/`version`.
pub fn parse_crate_manifest(path: &str, bytes: &[u8]) -> Result<CrateManifest, FormatError> {
    let invalid = |reason: String| FormatError::InvalidManifest {
        path: path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "it is not UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let table: Table = toml::from_str(text).map_err(|e| invalid(format!("invalid TOML: {e}")))?;
    for forbidden in ["patch", "replace"] {
        if table.contains_key(forbidden) {
            return Err(invalid(format!(
                "`[{forbidden}]` is not allowed in a published manifest"
            )));
        }
    }
    if let Some(key) = find_workspace_inheritance(&table, "") {
        return Err(invalid(format!(
            "`{key} = true` is unresolved; package with cargo so workspace values are filled in"
        )));
    }
    let package = table
        .get("package")
        .and_then(Value::as_table)
        .ok_or_else(|| invalid("there is no `[package]` table".to_owned()))?;
    let text_field = |key: &str| -> Result<Option<String>, FormatError> {
        match package.get(key) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(other) => Err(invalid(format!(
                "`package.{key}` must be a string, found {}",
                other.type_str()
            ))),
        }
    };
    let name =
        text_field("name")?.ok_or_else(|| invalid("`package.name` is missing".to_owned()))?;
    let version_text =
        text_field("version")?.ok_or_else(|| invalid("`package.version` is missing".to_owned()))?;
    let version = semver::Version::parse(&version_text)
        .map_err(|e| invalid(format!("`package.version` `{version_text}`: {e}")))?;
    Ok(CrateManifest {
        name,
        version,
        links: text_field("links")?,
        rust_version: text_field("rust-version")?,
    })
}

/// Free-form tables for other tools, where `workspace = true` means nothing to cargo.
const TOOL_METADATA: &[&str] = &["package.metadata", "workspace.metadata"];

/// The dotted key of the first `workspace = true` anywhere in `table`, outside tool metadata.
fn find_workspace_inheritance(table: &Table, prefix: &str) -> Option<String> {
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if TOOL_METADATA.contains(&dotted.as_str()) {
            continue;
        }
        match value {
            Value::Boolean(true) if key == "workspace" => return Some(dotted),
            Value::Table(inner) => {
                if let Some(found) = find_workspace_inheritance(inner, &dotted) {
                    return Some(found);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Value::Table(inner) = item
                        && let Some(found) =
                            find_workspace_inheritance(inner, &format!("{dotted}[{index}]"))
                    {
                        return Some(found);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "demo-1.0.0/Cargo.toml";

    #[test]
    fn reads_a_normalised_manifest() {
        let manifest = parse_crate_manifest(
            PATH,
            b"[package]\nedition = \"2021\"\nname = \"demo\"\nversion = \"1.0.0+b\"\nlinks = \"z\"\n\n[dependencies.serde]\nversion = \"1\"\n",
        )
        .unwrap();
        assert_eq!(manifest.name, "demo");
        assert_eq!(manifest.version.to_string(), "1.0.0+b");
        assert_eq!(manifest.links.as_deref(), Some("z"));
    }

    #[test]
    fn tool_metadata_may_say_workspace() {
        // As in icu_properties 2.4.0 on crates.io.
        let text = b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\n[package.metadata.cargo-semver-checks.lints]\nworkspace = true\n";
        assert_eq!(parse_crate_manifest(PATH, text).unwrap().name, "demo");
    }

    #[test]
    fn refuses_broken_manifests_with_a_reason() {
        for (text, reason) in [
            (&b"[package\nname = 1"[..], "invalid TOML"),
            (b"\xff", "not UTF-8"),
            (b"[lib]\nname = \"x\"\n", "no `[package]`"),
            (b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\n[patch.crates-io]\nx = { path = \"x\" }\n", "`[patch]`"),
            (b"[package]\nname = \"demo\"\nversion.workspace = true\n", "`package.version.workspace = true`"),
            (b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\n[dependencies]\nserde = { workspace = true }\n", "`dependencies.serde.workspace = true`"),
            (b"[package]\nname = \"demo\"\n", "`package.version` is missing"),
            (b"[package]\nname = \"demo\"\nversion = \"1.0\"\n", "`1.0`"),
            (b"[package]\nname = 5\nversion = \"1.0.0\"\n", "must be a string"),
        ] {
            let err = parse_crate_manifest(PATH, text).unwrap_err();
            assert_eq!(err.code(), "InvalidManifest");
            let message = err.to_string();
            assert!(message.contains(reason) && message.contains(PATH), "{message} should say {reason}");
        }
    }
}

//! Validated package names and their canonical form.

use std::fmt;

use crate::FormatError;

/// Longest accepted package name, as on crates.io.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// Names of the standard library and toolchain that nobody may publish.
const RESERVED_NAMES: &[&str] = &[
    "alloc",
    "core",
    "std",
    "proc_macro",
    "proc-macro",
    "test",
    "rustc",
    "cargo",
    "rustdoc",
    "rustfmt",
    "clippy",
    "compiler_builtins",
    "panic_abort",
    "panic_unwind",
    "libc_std",
];

/// Windows device names, refused because a file of that name cannot exist on Windows.
const WINDOWS_DEVICES: &[&str] = &[
    "nul", "con", "prn", "aux", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The canonical form of a name: ASCII-lowercase with `-` replaced by `_`.
/// Two packages whose canonical forms are equal may not both exist.
pub fn canonical_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// Why `name` breaks the syntax rules of a package name, or `None` when it follows them:
/// ASCII letters, digits, `-` and `_`, starting with a letter (or with `_` when
/// `allow_leading_underscore`, as dependency aliases may), at most 64 characters.
/// Reserved names are not checked here.
pub(crate) fn name_syntax_error(name: &str, allow_leading_underscore: bool) -> Option<String> {
    let Some(first) = name.chars().next() else {
        return Some("the name is empty".to_owned());
    };
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "it is {} characters long; the limit is {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Some(format!(
            "the character {bad:?} is not allowed; use ASCII letters, digits, `-` and `_` only"
        ));
    }
    if !(first.is_ascii_alphabetic() || (allow_leading_underscore && first == '_')) {
        return Some("the first character must be an ASCII letter".to_owned());
    }
    None
}

/// A package name that follows the crates.io rules: ASCII, starts with a letter, then
/// letters, digits, `-` or `_`, at most 64 characters, and not reserved.
/// The original spelling (case kept) is what index lines and download URLs carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageName(String);

impl PackageName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, FormatError> {
        if let Some(reason) = name_syntax_error(name, false) {
            return Err(FormatError::InvalidName {
                name: name.to_owned(),
                reason,
            });
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_NAMES.contains(&lower.as_str()) || WINDOWS_DEVICES.contains(&lower.as_str()) {
            return Err(FormatError::ReservedName {
                name: name.to_owned(),
            });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as written by its publisher.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical form (see [`canonical_name`]).
    pub fn canonical(&self) -> String {
        canonical_name(&self.0)
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PackageName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["serde", "Serde_Json", "a", "tokio-util", "x86"] {
            assert_eq!(PackageName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        for name in [
            "",
            "1abc",
            "-x",
            "_x",
            "café",
            "а",
            "a b",
            "a.b",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(PackageName::new(name), Err(FormatError::InvalidName { .. })),
                "{name:?} should be invalid"
            );
        }
        for name in ["std", "Core", "nul", "COM1", "proc_macro"] {
            assert!(matches!(
                PackageName::new(name),
                Err(FormatError::ReservedName { .. })
            ));
        }
    }

    #[test]
    fn canonical_form_folds_case_and_separator() {
        assert_eq!(canonical_name("Foo-Bar"), "foo_bar");
        assert_eq!(PackageName::new("foo_bar").unwrap().canonical(), "foo_bar");
    }
}

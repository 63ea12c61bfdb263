//! Path rules for entries of a `.crate`: inside `name-vers/`, relative, portable, and free of
//! collisions on case-insensitive or normalising file systems.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use super::walk::TarballEntryKind;
use crate::FormatError;

/// Characters Windows refuses in file names.
const WINDOWS_FORBIDDEN: &[char] = &[':', '*', '?', '"', '<', '>', '|'];

/// Windows device names; a file whose stem is one of them cannot be created on Windows.
const WINDOWS_DEVICES: &[&str] = &[
    "con", "prn", "aux", "nul", "conin$", "conout$", "com0", "com1", "com2", "com3", "com4",
    "com5", "com6", "com7", "com8", "com9", "com¹", "com²", "com³", "lpt0", "lpt1", "lpt2", "lpt3",
    "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9", "lpt¹", "lpt²", "lpt³",
];

/// Longest accepted path component, in bytes (the limit of common file systems).
const MAX_COMPONENT_BYTES: usize = 255;

/// A path for messages: as-is when it is printable UTF-8, otherwise with escapes.
pub(crate) fn display_path(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.escape_debug().to_string(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

/// Checks one entry path and returns it as text without a trailing `/`.
pub(crate) fn check_path(
    raw: &[u8],
    kind: TarballEntryKind,
    root: &str,
) -> Result<String, FormatError> {
    let invalid = |reason: &str| FormatError::InvalidPath {
        path: display_path(raw),
        reason: reason.to_owned(),
    };
    if raw.contains(&0) {
        return Err(invalid("it contains a NUL byte"));
    }
    let text = std::str::from_utf8(raw).map_err(|_| invalid("it is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(invalid("it contains a control character"));
    }
    if text.contains('\\') {
        return Err(invalid("it contains a backslash; use `/` as the separator"));
    }
    if text.starts_with('/') {
        return Err(invalid("it is absolute"));
    }
    let trimmed = match (kind, text.strip_suffix('/')) {
        (TarballEntryKind::Directory, Some(trimmed)) => trimmed,
        (TarballEntryKind::File, Some(_)) => {
            return Err(invalid("a regular file's path ends with `/`"));
        }
        (_, None) => text,
    };
    let mut components = trimmed.split('/');
    let first = components.next().unwrap_or_default();
    for component in trimmed.split('/') {
        match component {
            "" => return Err(invalid("it has an empty component (`//`)")),
            "." | ".." => return Err(invalid("it has a `.` or `..` component")),
            long if long.len() > MAX_COMPONENT_BYTES => {
                return Err(invalid("a component is longer than 255 bytes"));
            }
            _ => {}
        }
    }
    if first != root {
        return Err(invalid(&format!("it is outside `{root}/`")));
    }
    for component in components {
        check_portable_component(trimmed, component)?;
    }
    Ok(trimmed.to_owned())
}

/// Windows rules: no `: * ? " < > |`, no device name as stem, no trailing dot or space.
fn check_portable_component(path: &str, component: &str) -> Result<(), FormatError> {
    let reserved = |reason: String| FormatError::ReservedPath {
        path: path.to_owned(),
        reason,
    };
    if let Some(bad) = component.chars().find(|c| WINDOWS_FORBIDDEN.contains(c)) {
        return Err(reserved(format!(
            "the character `{bad}` is not allowed in file names on Windows"
        )));
    }
    let stem = component.split('.').next().unwrap_or_default().trim_end();
    if WINDOWS_DEVICES.contains(&stem.to_lowercase().as_str()) {
        return Err(reserved(format!("`{component}` is a Windows device name")));
    }
    if component.ends_with('.') || component.ends_with(' ') {
        return Err(reserved(format!(
            "`{component}` ends with a dot or space, which Windows drops"
        )));
    }
    Ok(())
}

/// The folded form two paths share when some file system would treat them as one:
/// Unicode compatibility normalisation and lowercase.
fn fold(path: &str) -> String {
    path.nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect()
}

struct Seen {
    path: String,
    kind: TarballEntryKind,
    explicit: bool,
}

/// Every path seen so far (entries and the directories they imply), keyed by folded form.
#[derive(Default)]
pub(crate) struct PathSet {
    seen: HashMap<String, Seen>,
}

impl PathSet {
    /// Adds an entry (already checked by [`check_path`]) and the directories above it.
    pub(crate) fn insert(&mut self, path: &str, kind: TarballEntryKind) -> Result<(), FormatError> {
        for (at, _) in path.match_indices('/') {
            self.add(&path[..at], TarballEntryKind::Directory, false)?;
        }
        self.add(path, kind, true)
    }

    fn add(
        &mut self,
        path: &str,
        kind: TarballEntryKind,
        explicit: bool,
    ) -> Result<(), FormatError> {
        let key = fold(path);
        let Some(seen) = self.seen.get_mut(&key) else {
            self.seen.insert(
                key,
                Seen {
                    path: path.to_owned(),
                    kind,
                    explicit,
                },
            );
            return Ok(());
        };
        let reason = if seen.path != path {
            if seen.path.to_lowercase() == path.to_lowercase() {
                "they differ only in letter case"
            } else {
                "they are equal after Unicode normalisation and case folding"
            }
        } else if seen.kind != kind {
            "one is a file, the other a directory"
        } else if kind == TarballEntryKind::File || (explicit && seen.explicit) {
            "the same path appears twice"
        } else {
            seen.explicit |= explicit;
            return Ok(());
        };
        Err(FormatError::DuplicatePath {
            path: path.to_owned(),
            other: seen.path.clone(),
            reason: reason.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "demo-1.0.0";
    const FILE: TarballEntryKind = TarballEntryKind::File;
    const DIR: TarballEntryKind = TarballEntryKind::Directory;

    #[test]
    fn accepts_ordinary_paths() {
        assert_eq!(
            check_path(b"demo-1.0.0/src/lib.rs", FILE, ROOT).unwrap(),
            "demo-1.0.0/src/lib.rs"
        );
        assert_eq!(
            check_path(b"demo-1.0.0/src/", DIR, ROOT).unwrap(),
            "demo-1.0.0/src"
        );
        assert_eq!(check_path(b"demo-1.0.0", DIR, ROOT).unwrap(), "demo-1.0.0");
        check_path("demo-1.0.0/données/été.txt".as_bytes(), FILE, ROOT).unwrap();
    }

    #[test]
    fn invalid_paths_name_the_path() {
        for (raw, reason) in [
            (&b"/etc/passwd"[..], "absolute"),
            (b"demo-1.0.0/../x", "`..`"),
            (b"demo-1.0.0/./x", "`.`"),
            (b"demo-1.0.0\\src\\lib.rs", "backslash"),
            (b"C:\\x", "backslash"),
            (b"demo-1.0.0/a\0b", "NUL"),
            (b"demo-1.0.0/\xff", "not UTF-8"),
            (b"demo-1.0.0/a\x1bb", "control"),
            (b"other-1.0.0/src/lib.rs", "outside `demo-1.0.0/`"),
            (b"demo-1.0.0//x", "empty component"),
            (b"demo-1.0.0/x/", "ends with `/`"),
        ] {
            let err = check_path(raw, FILE, ROOT).unwrap_err();
            assert_eq!(err.code(), "InvalidPath", "{err}");
            assert!(
                err.to_string().contains(reason),
                "{err} should say {reason}"
            );
            assert!(err.to_string().contains(&display_path(raw)), "{err}");
        }
    }

    #[test]
    fn windows_reserved_names_are_refused() {
        for raw in [
            "demo-1.0.0/aux.rs",
            "demo-1.0.0/CON",
            "demo-1.0.0/src/nul.txt",
            "demo-1.0.0/lpt1",
            "demo-1.0.0/a:b",
            "demo-1.0.0/a*b",
            "demo-1.0.0/a?b",
            "demo-1.0.0/a\"b",
            "demo-1.0.0/a<b",
            "demo-1.0.0/a>b",
            "demo-1.0.0/a|b",
            "demo-1.0.0/trailing.",
        ] {
            let err = check_path(raw.as_bytes(), FILE, ROOT).unwrap_err();
            assert_eq!(err.code(), "ReservedPath", "{raw}: {err}");
            assert!(err.to_string().contains(raw), "{err}");
        }
        check_path(b"demo-1.0.0/auxiliary.rs", FILE, ROOT).unwrap();
    }

    #[test]
    fn collisions_are_detected() {
        let cases: [(&[(&str, TarballEntryKind)], &str); 6] = [
            (
                &[("d/src/lib.rs", FILE), ("d/src/lib.rs", FILE)],
                "appears twice",
            ),
            (
                &[("d/src/lib.rs", FILE), ("d/src/Lib.rs", FILE)],
                "letter case",
            ),
            (&[("d/src/a.rs", FILE), ("d/SRC/b.rs", FILE)], "letter case"),
            (
                &[("d/caf\u{e9}.rs", FILE), ("d/cafe\u{301}.rs", FILE)],
                "Unicode normalisation",
            ),
            (
                &[("d/x", FILE), ("d/x/y", FILE)],
                "file, the other a directory",
            ),
            (&[("d/x", DIR), ("d/x", DIR)], "appears twice"),
        ];
        for (paths, reason) in cases {
            let mut set = PathSet::default();
            let mut result = Ok(());
            for (path, kind) in paths {
                result = result.and_then(|()| set.insert(path, *kind));
            }
            let err = result.unwrap_err();
            assert_eq!(err.code(), "DuplicatePath");
            assert!(
                err.to_string().contains(reason),
                "{err} should say {reason}"
            );
        }
        let mut set = PathSet::default();
        set.insert("d/src/a.rs", FILE).unwrap();
        set.insert("d/src", DIR).unwrap();
        set.insert("d/src/b.rs", FILE).unwrap();
    }
}

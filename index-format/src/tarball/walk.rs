//! Walks the decompressed tar stream header by header (the `tar` crate in raw mode) and
//! applies PAX and GNU long-name headers itself, strictly, so that no other reader can see
//! a different list of entries than the one validated here.

use std::collections::BTreeMap;
use std::ops::Range;

use tar::{Archive, Header};

use super::paths::display_path;
use super::pax::parse_pax_records;
use crate::{FormatError, PublishLimits};

/// Size of a tar block.
const BLOCK: usize = 512;

/// PAX keys that carry only metadata Wharf ignores.
const IGNORED_PAX_KEYS: &[&str] = &[
    "mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment",
];

/// PAX key prefixes of vendor metadata Wharf ignores.
const IGNORED_PAX_PREFIXES: &[&str] = &["SCHILY.", "LIBARCHIVE."];

/// The kind of a tarball entry. Nothing else is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TarballEntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// One logical entry: its raw path bytes, kind, size, mode and where its data lies.
#[derive(Debug, Clone)]
pub(crate) struct WalkedEntry {
    pub(crate) path: Vec<u8>,
    pub(crate) kind: TarballEntryKind,
    pub(crate) size: u64,
    pub(crate) mode: u32,
    pub(crate) data: Range<usize>,
}

/// Extended headers seen since the last real entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    pax: Option<BTreeMap<String, Vec<u8>>>,
}

/// Walks every header of `tar_bytes`, returning the logical entries in order.
pub(crate) fn walk_entries(
    tar_bytes: &[u8],
    limits: &PublishLimits,
) -> Result<Vec<WalkedEntry>, FormatError> {
    let mut archive = Archive::new(tar_bytes);
    let raw_entries = archive
        .entries()
        .map_err(|e| FormatError::malformed_tarball(e.to_string()))?
        .raw(true);
    let mut entries = Vec::new();
    let mut pending = Pending::default();
    let mut end_of_entries = 0;
    for raw in raw_entries {
        let raw =
            raw.map_err(|e| FormatError::malformed_tarball(format!("bad tar header: {e}")))?;
        let header = raw.header();
        let data = data_range(tar_bytes, raw.raw_file_position(), header)?;
        end_of_entries = data.start + data.len().div_ceil(BLOCK) * BLOCK;
        if header.as_ustar().is_none() && header.as_gnu().is_none() {
            return Err(FormatError::malformed_tarball(format!(
                "the header of `{}` is neither ustar nor GNU format",
                display_path(&header.path_bytes())
            )));
        }
        let bytes = &tar_bytes[data.clone()];
        match header.entry_type().as_byte() {
            b'L' => {
                if pending.long_name.is_some() {
                    return Err(pax_error(bytes, "two GNU long-name headers in a row"));
                }
                if pending.pax.is_some() {
                    // Some readers would apply the PAX records to this header, not the entry.
                    return Err(pax_error(
                        bytes,
                        "a GNU long-name header after a PAX header",
                    ));
                }
                let name = bytes.strip_suffix(b"\0").unwrap_or(bytes);
                pending.long_name = Some(name.to_vec());
            }
            b'x' => {
                if pending.pax.is_some() {
                    return Err(pax_error(&header.path_bytes(), "two PAX headers in a row"));
                }
                let records = parse_pax_records(bytes)
                    .map_err(|reason| pax_error(&header.path_bytes(), &reason))?;
                pending.pax = Some(records);
            }
            byte @ (b'0' | b'\0' | b'5') => {
                let kind = if byte == b'5' {
                    TarballEntryKind::Directory
                } else {
                    TarballEntryKind::File
                };
                let entry = resolve_entry(std::mem::take(&mut pending), header, kind, data)?;
                entries.push(entry);
                if entries.len() > limits.max_entries {
                    return Err(FormatError::TooManyEntries {
                        limit: limits.max_entries,
                    });
                }
            }
            other => {
                let path = pending
                    .long_name
                    .clone()
                    .unwrap_or_else(|| header.path_bytes().into_owned());
                return Err(FormatError::UnexpectedEntry {
                    path: display_path(&path),
                    kind: entry_type_name(other),
                });
            }
        }
    }
    if pending.long_name.is_some() || pending.pax.is_some() {
        return Err(FormatError::MalformedPax {
            path: "(end of archive)".to_owned(),
            reason: "an extended header describes no entry".to_owned(),
        });
    }
    check_end_of_archive(&tar_bytes[end_of_entries.min(tar_bytes.len())..])?;
    Ok(entries)
}

/// Applies pending extended headers to a real entry and checks their consistency.
fn resolve_entry(
    pending: Pending,
    header: &Header,
    kind: TarballEntryKind,
    data: Range<usize>,
) -> Result<WalkedEntry, FormatError> {
    let header_path = header.path_bytes().into_owned();
    let size = u64::try_from(data.len()).expect("a slice length fits in u64");
    let mut path = header_path.clone();
    if let Some(long_name) = pending.long_name {
        if !long_name.starts_with(&header_path) || header_path.is_empty() {
            return Err(pax_error(
                &long_name,
                &format!(
                    "the GNU long name does not continue the header's name `{}`",
                    display_path(&header_path)
                ),
            ));
        }
        path = long_name;
    }
    if let Some(records) = pending.pax {
        for (key, value) in &records {
            match key.as_str() {
                "path" => {
                    if path != header_path {
                        return Err(pax_error(value, "both a GNU long name and a PAX path"));
                    }
                    if !value.starts_with(&header_path) || header_path.is_empty() {
                        return Err(pax_error(
                            value,
                            &format!(
                                "the PAX path does not continue the header's name `{}`",
                                display_path(&header_path)
                            ),
                        ));
                    }
                    path.clone_from(value);
                }
                "size" => {
                    let declared = std::str::from_utf8(value)
                        .ok()
                        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|v| v.parse::<u64>().ok());
                    if declared != Some(size) {
                        return Err(FormatError::SizeMismatch {
                            path: display_path(&path),
                            reason: format!(
                                "the PAX header says size `{}` but the tar header says {size}",
                                value.escape_ascii()
                            ),
                        });
                    }
                }
                key if key.starts_with("GNU.sparse.") => {
                    return Err(FormatError::UnexpectedEntry {
                        path: display_path(&path),
                        kind: "GNU sparse (PAX)".to_owned(),
                    });
                }
                key if IGNORED_PAX_KEYS.contains(&key)
                    || IGNORED_PAX_PREFIXES.iter().any(|p| key.starts_with(p)) => {}
                key => {
                    return Err(pax_error(&path, &format!("unsupported PAX key `{key}`")));
                }
            }
        }
    }
    if kind == TarballEntryKind::Directory && size != 0 {
        return Err(FormatError::SizeMismatch {
            path: display_path(&path),
            reason: format!("a directory entry declares {size} bytes of data"),
        });
    }
    let mode = header.mode().map_err(|e| {
        FormatError::malformed_tarball(format!("bad mode field for `{}`: {e}", display_path(&path)))
    })?;
    Ok(WalkedEntry {
        path,
        kind,
        size,
        mode,
        data,
    })
}

/// Where the data of the entry whose header is `header` lies, if the archive holds it.
fn data_range(
    tar_bytes: &[u8],
    position: u64,
    header: &Header,
) -> Result<Range<usize>, FormatError> {
    let path = display_path(&header.path_bytes());
    let size = header
        .entry_size()
        .map_err(|e| FormatError::malformed_tarball(format!("bad size field for `{path}`: {e}")))?;
    let start = usize::try_from(position).unwrap_or(usize::MAX);
    let end = usize::try_from(size)
        .ok()
        .and_then(|size| start.checked_add(size))
        .filter(|&end| end <= tar_bytes.len())
        .ok_or_else(|| FormatError::SizeMismatch {
            path: path.clone(),
            reason: format!(
                "the header declares {size} bytes but the archive ends {} bytes later",
                tar_bytes.len().saturating_sub(start)
            ),
        })?;
    Ok(start..end)
}

/// After the last entry: at least two zero blocks, then nothing but zeros.
fn check_end_of_archive(rest: &[u8]) -> Result<(), FormatError> {
    if let Some(at) = rest.iter().position(|&b| b != 0) {
        return Err(FormatError::malformed_tarball(format!(
            "data after the end-of-archive marker ({} bytes, first non-zero byte at {at})",
            rest.len()
        )));
    }
    if rest.len() < 2 * BLOCK {
        return Err(FormatError::malformed_tarball(format!(
            "the archive ends without the two zero blocks of the end-of-archive marker ({} zero bytes)",
            rest.len()
        )));
    }
    Ok(())
}

fn pax_error(path: &[u8], reason: &str) -> FormatError {
    FormatError::MalformedPax {
        path: display_path(path),
        reason: reason.to_owned(),
    }
}

/// A person's name for a tar entry type byte.
fn entry_type_name(byte: u8) -> String {
    match byte {
        b'1' => "hardlink".to_owned(),
        b'2' => "symlink".to_owned(),
        b'3' => "character device".to_owned(),
        b'4' => "block device".to_owned(),
        b'6' => "FIFO".to_owned(),
        b'7' => "contiguous file".to_owned(),
        b'g' => "PAX global header".to_owned(),
        b'K' => "GNU long link name".to_owned(),
        b'S' => "GNU sparse".to_owned(),
        b'V' => "GNU volume label".to_owned(),
        b'M' => "GNU multi-volume".to_owned(),
        other => format!("unknown type `{}`", other.escape_ascii()),
    }
}

//! Moving the on-disk cache of the layouts before the pack file into the pack, once.
//!
//! Two older layouts kept one file per index file in an index's cache directory: flat, named
//! by the package's lowercase name, and before that nested at the file's index path
//! (`se/rd/serde`). Both hold the same entry format: a line of JSON (validators, the body's
//! SHA-256, and in the flat layout its length and CRC-32), then the body. Opening a cache
//! moves every such file whose body checks into the pack (its modification time, its last
//! use, kept as the record's), deletes the files and the directories of the nested layout,
//! and says so once on the log. A file that does not read as an entry is deleted too: it can
//! only be a damaged entry, which would be fetched again anyway.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::cache_pack::{PACK_FILE, Pack, unix_seconds};
use crate::disk_cache::CachedFile;

/// The first line of an entry of the older layouts.
#[derive(Debug, Deserialize)]
struct EntryHead {
    etag: Option<String>,
    last_modified: Option<String>,
    sha256: String,
    #[serde(default)]
    len: Option<u64>,
    #[serde(default)]
    crc32: Option<u32>,
}

/// What one migration did.
#[derive(Debug, Default)]
struct Moved {
    entries: usize,
    damaged: usize,
}

/// Moves the entries of the older layouts in `dir` into `pack` and deletes their files;
/// returns how many entries were moved.
pub(crate) fn migrate(dir: &Path, pack: &Pack) -> usize {
    let Ok(listing) = fs::read_dir(dir) else {
        return 0;
    };
    let mut moved = Moved::default();
    for entry in listing.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // `.wharf` (snapshot bins), temporary files, the pack itself.
        if name.starts_with('.') || name == PACK_FILE {
            continue;
        }
        let path = entry.path();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            move_nested(&path, pack, &mut moved);
            if let Err(error) = fs::remove_dir_all(&path) {
                tracing::debug!(path = %path.display(), %error, "cannot remove a directory of an older cache layout");
            }
        } else {
            move_file(&path, name, pack, &mut moved);
        }
    }
    if moved.entries + moved.damaged > 0 {
        tracing::warn!(
            dir = %dir.display(),
            moved = moved.entries,
            damaged = moved.damaged,
            "moved the index files of an older cache layout into {PACK_FILE} (once; damaged ones were deleted and are fetched again when needed)"
        );
    }
    moved.entries
}

/// Moves every entry under a directory of the nested layout.
fn move_nested(dir: &Path, pack: &Pack, moved: &mut Moved) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            move_nested(&path, pack, moved);
        } else if let Some(name) = entry.file_name().to_str() {
            move_file(&path, name, pack, moved);
        }
    }
}

/// Moves the entry at `path`, keyed by its file name, and deletes the file.
fn move_file(path: &Path, name: &str, pack: &Pack, moved: &mut Moved) {
    match read_entry(path) {
        Ok((file, last_use)) if !name.starts_with('.') => {
            let key = name.to_ascii_lowercase();
            pack.put(&key, &file, unix_seconds(last_use));
            moved.entries += 1;
        }
        _ => moved.damaged += 1,
    }
    if let Err(error) = fs::remove_file(path) {
        tracing::debug!(path = %path.display(), %error, "cannot remove a file of an older cache layout");
    }
}

/// The entry at `path` and its modification time; an error when it cannot be read or its
/// body is not the one its head describes.
fn read_entry(path: &Path) -> std::io::Result<(CachedFile, SystemTime)> {
    let file = fs::File::open(path)?;
    let modified = file.metadata()?.modified()?;
    let mut reader = BufReader::new(file);
    let mut head = Vec::new();
    reader.read_until(b'\n', &mut head)?;
    let mut body = Vec::new();
    reader.read_to_end(&mut body)?;
    parse_entry(&head, body)
        .map(|file| (file, modified))
        .ok_or_else(|| std::io::Error::other("not a whole cache entry"))
}

/// The cached file from an entry's first line (with its newline) and body; `None` when the
/// head does not read or the body is not the one it describes.
fn parse_entry(head: &[u8], body: Vec<u8>) -> Option<CachedFile> {
    let head: EntryHead = serde_json::from_slice(head.strip_suffix(b"\n")?).ok()?;
    let whole = match (head.len, head.crc32) {
        (Some(len), Some(crc32)) => {
            u64::try_from(body.len()).ok() == Some(len) && crc32fast::hash(&body) == crc32
        }
        _ => hex::encode(Sha256::digest(&body)) == head.sha256,
    };
    if !whole {
        return None;
    }
    Some(CachedFile {
        etag: head.etag,
        last_modified: head.last_modified,
        body: std::sync::Arc::new(String::from_utf8(body).ok()?),
        sha256: head.sha256,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry_text(body: &str, with_crc: bool) -> String {
        let sha256 = crate::snapshot_bins::sha256_hex(body);
        let tail = if with_crc {
            format!(
                ",\"len\":{},\"crc32\":{}",
                body.len(),
                crc32fast::hash(body.as_bytes())
            )
        } else {
            String::new()
        };
        format!(
            "{{\"etag\":\"\\\"v1\\\"\",\"last_modified\":null,\"sha256\":\"{sha256}\"{tail}}}\n{body}"
        )
    }

    fn expected(body: &str) -> CachedFile {
        CachedFile::new(Some("\"v1\"".to_owned()), None, body.to_owned())
    }

    #[test]
    fn flat_and_nested_entries_move_into_the_pack_once() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        fs::create_dir_all(dir.join("se/rd")).unwrap();
        fs::create_dir_all(dir.join(".wharf/bins")).unwrap();
        fs::write(dir.join("log"), entry_text("log line\n", true)).unwrap();
        fs::write(dir.join("se/rd/serde"), entry_text("serde line\n", false)).unwrap();
        fs::write(dir.join("tokio"), "{\"sha256\":\"00\"}\nnot its body\n").unwrap();
        fs::write(dir.join(".wharf/bins/0a"), "x\n").unwrap();
        let long_ago = SystemTime::now() - Duration::from_hours(24 * 10);
        fs::File::options()
            .write(true)
            .open(dir.join("log"))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();

        let mut pack = Pack::open(dir);
        assert_eq!(migrate(dir, &pack), 2);
        pack.reload();
        assert_eq!(
            pack.get("log"),
            Some((expected("log line\n"), unix_seconds(long_ago)))
        );
        assert_eq!(
            pack.get("serde").map(|(file, _)| file),
            Some(expected("serde line\n"))
        );
        assert_eq!(pack.get("tokio"), None);
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".wharf", PACK_FILE]);
        assert!(dir.join(".wharf/bins/0a").is_file());
        assert_eq!(migrate(dir, &pack), 0, "nothing is left to move");
    }
}

//! The pack file of one index's on-disk cache: every cached index file is a record appended
//! to one file (`index.pack`), instead of a file of its own. A cold resolve writes hundreds
//! of entries, and creating an inode per entry was the largest part of its time (ext4 looks
//! past every recently deleted inode of its group for each new one); appending a record is one
//! `writev`.
//!
//! A record is a fixed 40-byte header, the entry's key (the package's lowercase name), its
//! head (JSON: validators and the body's SHA-256) and its body:
//!
//! ```text
//! 0..4 magic `WPK1` | 4 kind | 5..8 zero | 8..12 key length | 12..16 head length
//! 16..24 body length | 24..32 last use (Unix seconds) | 32..36 body CRC-32
//! 36..40 CRC-32 of bytes 0..36, the key and the head
//! ```
//!
//! Kinds: an entry (the key's file, replacing any earlier record of the key), a removal (the
//! package is gone), a use (the entry was read: its last use, for `cache_gc`). Every field
//! is little-endian. Records are appended with `O_APPEND`, each in one write, so processes
//! sharing a cache interleave whole records. Opening reads the headers only (the bodies
//! are read by offset when asked for); a header that does not check (a tail torn by a crash,
//! any damage) ends the scan, the rest is ignored, and the pack is rewritten with the live
//! records only — as it is when records no longer used take more room than the live ones.
//! A body is checked against its CRC-32 on every read; one that fails is ignored and fetched
//! again. A rewrite goes to a temporary file renamed over the pack; a process that appends to
//! the old pack meanwhile loses those records, which only means fetching them again. None of
//! these checks is an authenticity check: whoever can write the cache can write a valid
//! record.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, IoSlice, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::disk_cache::CachedFile;

/// The pack's file name in an index's cache directory.
pub(crate) const PACK_FILE: &str = "index.pack";

const MAGIC: [u8; 4] = *b"WPK1";
const HEADER_LEN: usize = 40;
/// The longest key and head accepted; anything longer is damage.
const MAX_KEY_LEN: u32 = 4096;
const MAX_HEAD_LEN: u32 = 64 * 1024;
/// Packs smaller than this are never rewritten only to drop dead records.
const MIN_REWRITE_BYTES: u64 = 1024 * 1024;

/// What a record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Entry = 0,
    Removal = 1,
    Use = 2,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Entry),
            1 => Some(Self::Removal),
            2 => Some(Self::Use),
            _ => None,
        }
    }
}

/// An entry's head: its validators and the hex SHA-256 of its body.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    etag: Option<String>,
    last_modified: Option<String>,
    sha256: String,
}

/// Where a live entry's body is, with what the pack knows about it.
#[derive(Debug, Clone)]
struct Slot {
    head: Head,
    body_offset: u64,
    body_len: u64,
    body_crc: u32,
    /// Last use, Unix seconds.
    used: u64,
    /// The whole record's length (header, key, head, body).
    record_len: u64,
}

/// What scanning a pack found.
#[derive(Debug, Default)]
struct Scan {
    slots: HashMap<String, Slot>,
    /// Bytes of records that no longer say anything (replaced entries, removals, uses).
    dead_bytes: u64,
    /// Where the scan stopped at a header that did not check, if it did.
    damaged_at: Option<u64>,
}

impl Scan {
    fn live_bytes(&self) -> u64 {
        self.slots.values().map(|slot| slot.record_len).sum()
    }
}

/// One index's pack, open for reading and appending.
#[derive(Debug)]
pub(crate) struct Pack {
    path: PathBuf,
    /// `None` when the pack cannot be opened: the cache is then off for this run.
    file: Option<File>,
    slots: Mutex<HashMap<String, Slot>>,
}

/// `at` as Unix seconds.
pub(crate) fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl Pack {
    /// Opens (creating when missing) the pack in `dir`, reads its headers, and rewrites it
    /// when it is damaged or mostly dead records.
    pub(crate) fn open(dir: &Path) -> Self {
        let path = dir.join(PACK_FILE);
        let mut pack = Self {
            file: open_for_append(&path)
                .inspect_err(|error| {
                    tracing::debug!(path = %path.display(), %error, "cannot open the cache's pack; caching nothing");
                })
                .ok(),
            path,
            slots: Mutex::default(),
        };
        pack.reload();
        pack
    }

    /// Reads the headers again (after records were appended outside the table, e.g. by a
    /// migration), rewriting the pack when it is damaged or mostly dead records.
    pub(crate) fn reload(&mut self) {
        let Some(file) = &self.file else { return };
        let scan = match scan(file) {
            Ok(scan) => scan,
            Err(error) => {
                tracing::debug!(path = %self.path.display(), %error, "cannot read the cache's pack");
                Scan::default()
            }
        };
        let live = scan.live_bytes();
        if let Some(at) = scan.damaged_at {
            tracing::debug!(path = %self.path.display(), at, "ignoring the cache's pack from a damaged record on");
        }
        if scan.damaged_at.is_some()
            || (scan.dead_bytes > live && scan.dead_bytes + live > MIN_REWRITE_BYTES)
        {
            match rewrite(&self.path, file, &scan.slots, 0) {
                Ok(kept) => {
                    self.file = open_for_append(&self.path).ok();
                    *self.table() = kept;
                }
                Err(error) => {
                    tracing::debug!(path = %self.path.display(), %error, "cannot rewrite the cache's pack");
                    *self.table() = scan.slots;
                }
            }
            return;
        }
        *self.table() = scan.slots;
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // Each change to the table is one insert or removal: consistent even after a panic.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `key` and its last use (Unix seconds), or `None` when there is none or
    /// its body is damaged.
    pub(crate) fn get(&self, key: &str) -> Option<(CachedFile, u64)> {
        let file = self.file.as_ref()?;
        let slot = self.table().get(key).cloned()?;
        let mut body = vec![0; usize::try_from(slot.body_len).ok()?];
        if let Err(error) = file.read_exact_at(&mut body, slot.body_offset) {
            tracing::debug!(path = %self.path.display(), key, %error, "cannot read a cache entry");
            return None;
        }
        if crc32fast::hash(&body) != slot.body_crc {
            tracing::debug!(path = %self.path.display(), key, "ignoring a damaged cache entry");
            return None;
        }
        let body = String::from_utf8(body).ok()?;
        Some((
            CachedFile {
                etag: slot.head.etag,
                last_modified: slot.head.last_modified,
                body: std::sync::Arc::new(body),
                sha256: slot.head.sha256,
            },
            slot.used,
        ))
    }

    /// Appends `file` as the entry of `key`, last used at `used` (Unix seconds). The table
    /// forgets any older entry of `key` (its new place is known after a reload).
    pub(crate) fn put(&self, key: &str, file: &CachedFile, used: u64) {
        let head = Head {
            etag: file.etag.clone(),
            last_modified: file.last_modified.clone(),
            sha256: file.sha256.clone(),
        };
        // Serialising a struct of strings cannot fail.
        let head = serde_json::to_vec(&head).unwrap_or_default();
        let body = file.body.as_bytes();
        self.table().remove(key);
        self.append(Kind::Entry, key, &head, body, used);
    }

    /// Appends the removal of `key`, when the pack holds an entry of it.
    pub(crate) fn remove(&self, key: &str) {
        if self.table().remove(key).is_some() {
            self.append(Kind::Removal, key, &[], &[], 0);
        }
    }

    /// Records that `key` was used at `used` (Unix seconds).
    pub(crate) fn mark_used(&self, key: &str, used: u64) {
        if let Some(slot) = self.table().get_mut(key) {
            slot.used = slot.used.max(used);
        }
        self.append(Kind::Use, key, &[], &[], used);
    }

    fn append(&self, kind: Kind, key: &str, head: &[u8], body: &[u8], used: u64) {
        let Some(file) = &self.file else { return };
        let Some(mut front) = record_front(kind, key, head, body, used) else {
            return;
        };
        front.extend_from_slice(key.as_bytes());
        front.extend_from_slice(head);
        if let Err(error) = write_record(file, &front, body) {
            tracing::debug!(path = %self.path.display(), key, %error, "cannot write a cache entry");
        }
    }
}

/// Deletes every entry of the pack at `path` last used before `cutoff` (Unix seconds),
/// rewriting it with the others, or deleting it when none is left. Returns how many entries
/// were removed and kept.
pub(crate) fn collect(path: &Path, cutoff: u64) -> std::io::Result<(usize, usize)> {
    let file = File::open(path)?;
    let scan = scan(&file)?;
    let total = scan.slots.len();
    let stale = scan
        .slots
        .values()
        .filter(|slot| slot.used < cutoff)
        .count();
    if stale == total {
        fs::remove_file(path)?;
        return Ok((total, 0));
    }
    if stale > 0 || scan.damaged_at.is_some() {
        let kept = rewrite(path, &file, &scan.slots, cutoff)?;
        return Ok((total - kept.len(), kept.len()));
    }
    Ok((0, total))
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    let open = || {
        File::options()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
    };
    match open() {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(path.parent().unwrap_or_else(|| Path::new(".")))?;
            open()
        }
        other => other,
    }
}

/// A record's header (with room for its key and head) for `key`, `head` and `body`; `None`
/// when a length does not fit its field.
fn record_front(kind: Kind, key: &str, head: &[u8], body: &[u8], used: u64) -> Option<Vec<u8>> {
    let key_len = u32::try_from(key.len())
        .ok()
        .filter(|len| *len <= MAX_KEY_LEN)?;
    let head_len = u32::try_from(head.len())
        .ok()
        .filter(|len| *len <= MAX_HEAD_LEN)?;
    let mut front = Vec::with_capacity(HEADER_LEN + key.len() + head.len());
    front.extend_from_slice(&MAGIC);
    front.extend_from_slice(&[kind as u8, 0, 0, 0]);
    front.extend_from_slice(&key_len.to_le_bytes());
    front.extend_from_slice(&head_len.to_le_bytes());
    front.extend_from_slice(&u64::try_from(body.len()).ok()?.to_le_bytes());
    front.extend_from_slice(&used.to_le_bytes());
    front.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&front);
    crc.update(key.as_bytes());
    crc.update(head);
    front.extend_from_slice(&crc.finalize().to_le_bytes());
    Some(front)
}

/// Writes `front` and `body` as one record: one `writev` (so an `O_APPEND` file gets it whole
/// at its end), finishing a short write with more.
fn write_record(mut file: &File, front: &[u8], body: &[u8]) -> std::io::Result<()> {
    let total = front.len() + body.len();
    let written = file.write_vectored(&[IoSlice::new(front), IoSlice::new(body)])?;
    if written < front.len() {
        file.write_all(&front[written..])?;
        file.write_all(body)?;
    } else if written < total {
        file.write_all(&body[written - front.len()..])?;
    }
    Ok(())
}

/// One header, read and checked.
struct Header {
    kind: Kind,
    key_len: u32,
    head_len: u32,
    body_len: u64,
    used: u64,
    body_crc: u32,
    crc: u32,
}

fn parse_header(bytes: &[u8; HEADER_LEN]) -> Option<Header> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    if bytes[..4] != MAGIC || bytes[5..8] != [0, 0, 0] {
        return None;
    }
    let header = Header {
        kind: Kind::from_byte(bytes[4])?,
        key_len: u32_at(8),
        head_len: u32_at(12),
        body_len: u64_at(16),
        used: u64_at(24),
        body_crc: u32_at(32),
        crc: u32_at(36),
    };
    (header.key_len <= MAX_KEY_LEN && header.head_len <= MAX_HEAD_LEN).then_some(header)
}

/// Reads every header of the pack, from the start until its end or the first record that
/// does not check.
fn scan(file: &File) -> std::io::Result<Scan> {
    let len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    reader.seek(SeekFrom::Start(0))?;
    let mut found = Scan::default();
    let mut at = 0u64;
    let mut bytes = [0u8; HEADER_LEN];
    let mut key_and_head = Vec::new();
    while at < len {
        let damaged = |found: &mut Scan| found.damaged_at = Some(at);
        if len - at < HEADER_LEN as u64 || reader.read_exact(&mut bytes).is_err() {
            damaged(&mut found);
            break;
        }
        let Some(header) = parse_header(&bytes) else {
            damaged(&mut found);
            break;
        };
        let front_len = HEADER_LEN as u64 + u64::from(header.key_len) + u64::from(header.head_len);
        let record_len = front_len.checked_add(header.body_len);
        if record_len.is_none_or(|record_len| record_len > len - at) {
            damaged(&mut found);
            break;
        }
        let record_len = record_len.unwrap_or_default();
        key_and_head.resize((header.key_len + header.head_len) as usize, 0);
        if reader.read_exact(&mut key_and_head).is_err() {
            damaged(&mut found);
            break;
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[..36]);
        crc.update(&key_and_head);
        let (key, head) = key_and_head.split_at(header.key_len as usize);
        let key = std::str::from_utf8(key).ok();
        if crc.finalize() != header.crc || key.is_none() {
            damaged(&mut found);
            break;
        }
        let key = key.unwrap_or_default();
        match header.kind {
            Kind::Entry => {
                let Ok(head) = serde_json::from_slice::<Head>(head) else {
                    damaged(&mut found);
                    break;
                };
                let slot = Slot {
                    head,
                    body_offset: at + front_len,
                    body_len: header.body_len,
                    body_crc: header.body_crc,
                    used: header.used,
                    record_len,
                };
                if let Some(old) = found.slots.insert(key.to_owned(), slot) {
                    found.dead_bytes += old.record_len;
                }
            }
            Kind::Removal => {
                if let Some(old) = found.slots.remove(key) {
                    found.dead_bytes += old.record_len;
                }
                found.dead_bytes += record_len;
            }
            Kind::Use => {
                if let Some(slot) = found.slots.get_mut(key) {
                    slot.used = slot.used.max(header.used);
                }
                found.dead_bytes += record_len;
            }
        }
        reader.seek_relative(i64::try_from(header.body_len).unwrap_or(i64::MAX))?;
        at += record_len;
    }
    Ok(found)
}

/// Writes the entries of `slots` last used at or after `cutoff` (with their bodies read from
/// `old` and checked) to a new pack renamed over `path`; returns the new pack's table.
fn rewrite(
    path: &Path,
    old: &File,
    slots: &HashMap<String, Slot>,
    cutoff: u64,
) -> std::io::Result<HashMap<String, Slot>> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    let mut kept = HashMap::new();
    let mut at = 0u64;
    let mut entries: Vec<(&String, &Slot)> =
        slots.iter().filter(|(_, s)| s.used >= cutoff).collect();
    // In their old order: a later rewrite reads them in one pass.
    entries.sort_unstable_by_key(|(_, slot)| slot.body_offset);
    for (key, slot) in entries {
        let Ok(len) = usize::try_from(slot.body_len) else {
            continue;
        };
        let mut body = vec![0; len];
        if old.read_exact_at(&mut body, slot.body_offset).is_err()
            || crc32fast::hash(&body) != slot.body_crc
        {
            continue;
        }
        let head = serde_json::to_vec(&slot.head).unwrap_or_default();
        let Some(mut front) = record_front(Kind::Entry, key, &head, &body, slot.used) else {
            continue;
        };
        front.extend_from_slice(key.as_bytes());
        front.extend_from_slice(&head);
        temp.write_all(&front)?;
        temp.write_all(&body)?;
        let front_len = front.len() as u64;
        kept.insert(
            key.clone(),
            Slot {
                body_offset: at + front_len,
                record_len: front_len + slot.body_len,
                ..slot.clone()
            },
        );
        at += front_len + slot.body_len;
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(body: &str) -> CachedFile {
        CachedFile::new(Some("\"v1\"".to_owned()), None, body.to_owned())
    }

    #[test]
    fn entries_read_back_and_the_last_record_of_a_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let pack = Pack::open(dir.path());
        pack.put("serde", &file("one\n"), 10);
        pack.put("log", &file("log\n"), 11);
        pack.put("serde", &file("two\n"), 12);
        pack.put("gone", &file("gone\n"), 13);
        let mut pack = Pack::open(dir.path());
        pack.remove("gone");
        pack.mark_used("log", 20);
        assert_eq!(pack.get("serde"), Some((file("two\n"), 12)));
        assert_eq!(pack.get("log"), Some((file("log\n"), 20)));
        pack.reload();
        assert_eq!(pack.get("gone"), None);
        assert_eq!(pack.get("log"), Some((file("log\n"), 20)));
        assert_eq!(pack.get("missing"), None);
    }

    #[test]
    fn a_torn_tail_is_ignored_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let pack = Pack::open(dir.path());
        pack.put("serde", &file("kept\n"), 10);
        pack.put("log", &file("torn away\n"), 10);
        drop(pack);
        let path = dir.path().join(PACK_FILE);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();

        let pack = Pack::open(dir.path());
        assert_eq!(pack.get("serde"), Some((file("kept\n"), 10)));
        assert_eq!(pack.get("log"), None);
        // The torn record is gone, so what comes after it is read again.
        pack.put("log", &file("again\n"), 11);
        let pack = Pack::open(dir.path());
        assert_eq!(pack.get("log"), Some((file("again\n"), 11)));
    }

    #[test]
    fn a_damaged_body_or_header_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let pack = Pack::open(dir.path());
        pack.put("serde", &file("line one\n"), 10);
        drop(pack);
        let path = dir.path().join(PACK_FILE);
        let text = fs::read(&path).unwrap();
        let at = text.windows(8).position(|w| w == b"line one").unwrap();
        let mut changed = text.clone();
        changed[at..at + 8].copy_from_slice(b"line 1!!");
        fs::write(&path, changed).unwrap();
        assert_eq!(Pack::open(dir.path()).get("serde"), None);

        let mut garbage = text;
        garbage[6] = 1;
        fs::write(&path, &garbage).unwrap();
        assert_eq!(Pack::open(dir.path()).get("serde"), None);
        fs::write(
            &path,
            b"\xff\xfe not a pack at all, but long enough to hold a header",
        )
        .unwrap();
        let pack = Pack::open(dir.path());
        assert_eq!(pack.get("serde"), None);
        pack.put("serde", &file("fresh\n"), 12);
        assert_eq!(
            Pack::open(dir.path()).get("serde"),
            Some((file("fresh\n"), 12))
        );
    }

    #[test]
    fn a_pack_mostly_dead_is_rewritten_with_its_live_entries() {
        let dir = tempfile::tempdir().unwrap();
        let pack = Pack::open(dir.path());
        let big = "x".repeat(300 * 1024) + "\n";
        for round in 0..6 {
            pack.put("big", &file(&big), round);
        }
        pack.put("small", &file("small\n"), 3);
        drop(pack);
        let path = dir.path().join(PACK_FILE);
        let before = fs::metadata(&path).unwrap().len();
        let pack = Pack::open(dir.path());
        let after = fs::metadata(&path).unwrap().len();
        assert!(after * 5 < before, "{before} → {after}");
        assert_eq!(pack.get("big"), Some((file(&big), 5)));
        assert_eq!(pack.get("small"), Some((file("small\n"), 3)));
    }

    #[test]
    fn collecting_keeps_entries_used_since_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let pack = Pack::open(dir.path());
        pack.put("old", &file("old\n"), 100);
        pack.put("touched", &file("touched\n"), 100);
        pack.put("recent", &file("recent\n"), 300);
        pack.mark_used("touched", 250);
        drop(pack);
        let path = dir.path().join(PACK_FILE);
        assert_eq!(collect(&path, 200).unwrap(), (1, 2));
        let pack = Pack::open(dir.path());
        assert_eq!(pack.get("old"), None);
        assert_eq!(pack.get("touched"), Some((file("touched\n"), 250)));
        assert_eq!(collect(&path, 1000).unwrap(), (2, 0));
        assert!(!path.exists());
    }
}

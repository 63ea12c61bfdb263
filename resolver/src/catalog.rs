//! A package's catalog: its versions (read from the heads of its index lines, or from parsed
//! entries) sorted and grouped into compatibility buckets, each version's full details parsed
//! on first use (see `details.rs`). Built once per package name.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use semver::Version;
use serde::Deserialize;
use wharf_index_format::{INDEX_V_MAX, IndexEntry};

use crate::IndexSource;
use crate::details::{Details, RequirementCache};
use crate::version_set::{SemverSet, Triple};

/// Cargo's semver-compatibility bucket: the left-most non-zero component. One version per
/// bucket of a package may be selected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(crate) enum Compat {
    /// `X.y.z` with `X > 0`.
    Major(u64),
    /// `0.Y.z` with `Y > 0`.
    Minor(u64),
    /// `0.0.Z`.
    Patch(u64),
}

impl Compat {
    pub(crate) fn of(version: &Version) -> Self {
        Self::of_triple((version.major, version.minor, version.patch))
    }

    pub(crate) fn of_triple((major, minor, patch): Triple) -> Self {
        if major > 0 {
            Self::Major(major)
        } else if minor > 0 {
            Self::Minor(minor)
        } else {
            Self::Patch(patch)
        }
    }

    /// Every version of the bucket, pre-releases included.
    pub(crate) fn range(self) -> SemverSet {
        let (low, high) = match self {
            Self::Major(m) => ((m, 0, 0), (m + 1, 0, 0)),
            Self::Minor(m) => ((0, m, 0), (0, m + 1, 0)),
            Self::Patch(p) => ((0, 0, p), (0, 0, p + 1)),
        };
        SemverSet::between(low, high)
    }

    /// The version that stands for the whole bucket in proxy packages.
    pub(crate) fn canonical(self) -> Version {
        match self {
            Self::Major(m) => Version::new(m, 0, 0),
            Self::Minor(m) => Version::new(0, m, 0),
            Self::Patch(p) => Version::new(0, 0, p),
        }
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Major(m) => write!(f, "{m}.x"),
            Self::Minor(m) => write!(f, "0.{m}.x"),
            Self::Patch(p) => write!(f, "0.0.{p}"),
        }
    }
}

/// One dependency of one version, ready for the solver.
#[derive(Debug, Clone)]
pub(crate) struct Dep {
    /// The name the depending package uses (`dep:x` and `x/f` refer to it).
    pub(crate) alias: Rc<str>,
    /// The real package name.
    pub(crate) package: Rc<str>,
    /// The requirement text, for messages.
    pub(crate) req: Rc<str>,
    /// The requirement as a version set.
    pub(crate) set: SemverSet,
    pub(crate) features: Rc<[Rc<str>]>,
    pub(crate) default_features: bool,
    pub(crate) optional: bool,
}

/// Where a version's full index line is, for parsing on demand.
#[derive(Debug)]
pub(crate) enum Origin {
    /// A line of an index file, read again from the source when needed.
    Line {
        /// Byte offset of the line in the file.
        offset: u64,
        /// Length of the line in bytes.
        len: usize,
    },
    /// An already parsed entry.
    Entry(Arc<[IndexEntry]>, usize),
}

/// One version of a package.
#[derive(Debug)]
pub(crate) struct VersionData {
    pub(crate) version: Version,
    pub(crate) compat: Compat,
    pub(crate) yanked: bool,
    /// Whether the toolchain satisfies the version's `rust_version` (true when either is unset).
    pub(crate) rust_ok: bool,
    origin: Origin,
    /// `None` inside once the line turned out unusable (bad JSON or requirement).
    /// Boxed: most versions are never tried, and a small `VersionData` keeps the catalog of
    /// a package with thousands of releases compact.
    details: OnceCell<Option<Box<Details>>>,
}

impl VersionData {
    /// The parsed details, or `None` when the line cannot be used.
    pub(crate) fn details(
        &self,
        name: &str,
        source: &dyn IndexSource,
        cache: &mut RequirementCache,
    ) -> Option<&Details> {
        self.details
            .get_or_init(|| match &self.origin {
                Origin::Entry(entries, i) => Details::of_entry(name, &entries[*i], cache),
                Origin::Line { offset, len } => {
                    let line = source.index_line(name, *offset, *len).ok().flatten()?;
                    Details::of_line(name, &line, &self.version, cache)
                }
            })
            .as_deref()
    }
}

/// Every usable version of one package, sorted ascending, grouped by bucket.
#[derive(Debug, Default)]
pub(crate) struct CrateData {
    pub(crate) versions: Vec<VersionData>,
    /// Contiguous index ranges of `versions`, one per bucket, ascending.
    pub(crate) buckets: Vec<(Compat, Range<usize>)>,
}

impl CrateData {
    pub(crate) fn bucket(&self, compat: Compat) -> &[VersionData] {
        self.buckets
            .iter()
            .find(|(c, _)| *c == compat)
            .map_or(&[], |(_, range)| &self.versions[range.clone()])
    }

    pub(crate) fn get(&self, version: &Version) -> Option<&VersionData> {
        self.versions
            .binary_search_by(|data| data.version.cmp(version))
            .ok()
            .map(|i| &self.versions[i])
    }

    fn from_versions(mut versions: Vec<VersionData>) -> Self {
        versions.sort_by(|a, b| a.version.cmp(&b.version));
        versions.dedup_by(|later, earlier| later.version == earlier.version);
        let mut buckets: Vec<(Compat, Range<usize>)> = Vec::new();
        for (i, data) in versions.iter().enumerate() {
            match buckets.last_mut() {
                Some((compat, range)) if *compat == data.compat => range.end = i + 1,
                _ => buckets.push((data.compat, i..i + 1)),
            }
        }
        Self { versions, buckets }
    }

    /// Keeps only `version`, adding `fallback` when the index lacks it: a host provides
    /// exactly one version of its API package, published or not.
    pub(crate) fn restrict_to(&mut self, version: &Version, fallback: IndexEntry) {
        let mut versions = std::mem::take(&mut self.versions);
        versions.retain(|v| v.version == *version);
        if versions.is_empty() {
            versions = Self::from_entries(&Arc::from([fallback]), None).versions;
        }
        *self = Self::from_versions(versions);
    }

    /// From parsed entries (already filtered by the source).
    pub(crate) fn from_entries(
        entries: &Arc<[IndexEntry]>,
        rust_version: Option<&Version>,
    ) -> Self {
        let versions = (0..entries.len())
            .map(|i| {
                let entry = &entries[i];
                VersionData {
                    version: entry.vers.clone(),
                    compat: Compat::of(&entry.vers),
                    yanked: entry.yanked,
                    rust_ok: rust_ok(rust_version, entry.rust_version.as_deref()),
                    origin: Origin::Entry(Arc::clone(entries), i),
                    details: OnceCell::new(),
                }
            })
            .collect();
        Self::from_versions(versions)
    }

    /// From the lines [`ScannedLine::visit`] collected (the vector is allocated once, at
    /// its exact size).
    pub(crate) fn from_lines(lines: impl ExactSizeIterator<Item = ScannedLine>) -> Self {
        let versions = lines
            .map(|line| VersionData {
                compat: Compat::of(&line.version),
                version: line.version,
                yanked: line.yanked,
                rust_ok: line.rust_ok,
                origin: Origin::Line {
                    offset: line.offset,
                    len: line.len,
                },
                details: OnceCell::new(),
            })
            .collect();
        Self::from_versions(versions)
    }
}

/// The head of one line of a raw index file (name, version, yanked, rust version, schema
/// version), read without parsing the rest.
#[derive(Debug)]
pub(crate) struct ScannedLine {
    pub(crate) version: Version,
    pub(crate) yanked: bool,
    /// Whether the toolchain satisfies the version's `rust_version` (true when either is unset).
    pub(crate) rust_ok: bool,
    /// Byte offset of the line in the file.
    pub(crate) offset: u64,
    /// Length of the line in bytes.
    pub(crate) len: usize,
}

impl ScannedLine {
    /// Reads the head of one line of `name`'s index file and adds it to `lines`. Lines of
    /// another name, with a schema version above 2, or unreadable, are skipped as cargo does.
    pub(crate) fn visit(
        lines: &mut Vec<Self>,
        name: &str,
        rust_version: Option<&Version>,
        offset: u64,
        line: &[u8],
    ) {
        let Some((version, yanked, rust_ok)) = read_head(line, Some(name), rust_version) else {
            return;
        };
        lines.push(Self {
            version,
            yanked,
            rust_ok,
            offset,
            len: line.len(),
        });
    }
}

/// The version and `yanked` flag of one index line, read as the resolver reads the line of
/// every version it does not try: without parsing dependencies or features (a plain-layout
/// line is not even checked to be UTF-8 beyond its head). `None` for a line cargo would skip:
/// unreadable, or of a schema version above 2.
///
/// ```
/// let line = br#"{"name":"log","vers":"0.4.22","deps":[],"cksum":"00","features":{},"yanked":true}"#;
/// let (version, yanked) = wharf_resolver::index_line_version(line).unwrap();
/// assert_eq!((version.to_string(), yanked), ("0.4.22".to_owned(), true));
/// assert!(wharf_resolver::index_line_version(b"{not json").is_none());
/// ```
pub fn index_line_version(line: &[u8]) -> Option<(Version, bool)> {
    read_head(line, None, None).map(|(version, yanked, _)| (version, yanked))
}

/// The version, `yanked` flag and whether `rust_version` (the toolchain's) satisfies the
/// line's, of a line named `name` (any name when `None`).
fn read_head(
    line: &[u8],
    name: Option<&str>,
    rust_version: Option<&Version>,
) -> Option<(Version, bool, bool)> {
    // The quick reader hands out raw bytes: names are compared and plain `X.Y.Z` numbers
    // read without a UTF-8 check or a semver parse (most lines); anything else takes the
    // full way.
    if let Some(head) = QuickHead::read(line) {
        if name.is_some_and(|name| head.name != name.as_bytes())
            || head.v.unwrap_or(1) > INDEX_V_MAX
        {
            return None;
        }
        let version = if let Some((major, minor, patch)) = plain_triple(head.vers) {
            Version::new(major, minor, patch)
        } else {
            Version::parse(std::str::from_utf8(head.vers).ok()?).ok()?
        };
        let rust_ok = match (rust_version, head.rust_version) {
            (Some(toolchain), Some(needed)) => rust_version_triple(needed).map_or_else(
                || rust_ok(Some(toolchain), std::str::from_utf8(needed).ok()),
                |(major, minor, patch)| Version::new(major, minor, patch) <= *toolchain,
            ),
            _ => true,
        };
        return Some((version, head.yanked, rust_ok));
    }
    let head = serde_json::from_slice::<Head<'_>>(line).ok()?;
    if name.is_some_and(|name| head.name != name) || head.v.unwrap_or(1) > INDEX_V_MAX {
        return None;
    }
    let version = Version::parse(&head.vers).ok()?;
    let rust_ok = rust_ok(rust_version, head.rust_version.as_deref());
    Some((version, head.yanked.unwrap_or(false), rust_ok))
}

/// `X.Y.Z` of plain decimal numbers without leading zeros (what semver accepts and most
/// versions are); `None` for anything else (pre-releases, build metadata, overflow), which
/// the caller parses fully.
fn plain_triple(text: &[u8]) -> Option<Triple> {
    let mut parts = text.split(|&c| c == b'.');
    let mut number = || {
        let part = parts.next()?;
        if part.is_empty() || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        decimal(part)
    };
    let triple = (number()?, number()?, number()?);
    parts.next().is_none().then_some(triple)
}

/// A `rust_version` as cargo reads it (`1`, `1.70`, `1.70.0`, surrounding blanks allowed);
/// `None` when it is anything else, which the caller reads the slow way.
fn rust_version_triple(text: &[u8]) -> Option<Triple> {
    let mut parts = text.trim_ascii().split(|&c| c == b'.');
    let major = decimal(parts.next()?)?;
    let minor = parts.next().map_or(Some(0), decimal)?;
    let patch = parts.next().map_or(Some(0), decimal)?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// A non-empty run of ASCII digits as a number; `None` on anything else or overflow.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &c| {
        if c.is_ascii_digit() {
            value.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// The fields of an index line needed before a version is tried; the rest is skipped
/// without allocating.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    vers: Cow<'a, str>,
    #[serde(default)]
    yanked: Option<bool>,
    #[serde(default, borrow)]
    rust_version: Option<Cow<'a, str>>,
    #[serde(default)]
    v: Option<u32>,
}

/// The head of a line as [`QuickHead::read`] finds it: raw bytes, borrowed from the line.
struct QuickHead<'a> {
    name: &'a [u8],
    vers: &'a [u8],
    yanked: bool,
    rust_version: Option<&'a [u8]>,
    v: Option<u32>,
}

impl<'a> QuickHead<'a> {
    /// Reads the head of a line laid out as registries write it: `name` and `vers` first,
    /// then `deps`, `cksum`, `features`, and `yanked` before `rust_version` and `v`. Keys
    /// are found by their quoted text followed by a colon (quotes inside JSON strings are
    /// escaped, so that text is a key) and a value of the right type (a feature of the same
    /// name has a list). `yanked` is searched from the end of the line, the two keys after it
    /// only in the rest, so long `deps` and `features` are not scanned. `None` when the
    /// layout differs or a string holds escapes: the caller then parses the line properly.
    fn read(line: &'a [u8]) -> Option<Self> {
        let rest = line.strip_prefix(b"{")?;
        let (name, rest) = quoted(after_key(rest.trim_ascii_start(), b"\"name\"")?)?;
        let rest = rest
            .trim_ascii_start()
            .strip_prefix(b",")?
            .trim_ascii_start();
        let (vers, rest) = quoted(after_key(rest, b"\"vers\"")?)?;
        let (yanked, tail) = key_values_from_end(rest, b"\"yanked\"").find_map(|value| {
            [(&b"true"[..], true), (b"false", false), (b"null", false)]
                .into_iter()
                .find_map(|(text, yanked)| value.strip_prefix(text).map(|tail| (yanked, tail)))
        })?;
        // The keys after `yanked` read in one pass when they are plain; otherwise searched
        // for as before.
        let (rust_version, v) = match read_tail(tail) {
            Some(found) => found,
            None => search_tail(tail)?,
        };
        Some(Self {
            name,
            vers,
            yanked,
            rust_version,
            v,
        })
    }
}

/// `rust_version` and `v` of a line's tail (what follows `yanked`'s value), read in one pass
/// when the tail is a plain run of `, "key": value` pairs closing the line, every key once and
/// every value a string without escapes, a plain number, `true`, `false` or `null`; `None`
/// for anything else, which [`search_tail`] reads instead.
fn read_tail(mut tail: &[u8]) -> Option<(Option<&[u8]>, Option<u32>)> {
    let (mut rust_version, mut v) = (None, None);
    let (mut seen_rust_version, mut seen_v) = (false, false);
    loop {
        tail = json_blanks(tail);
        match tail.first()? {
            b'}' => {
                return json_blanks(&tail[1..])
                    .is_empty()
                    .then_some((rust_version, v));
            }
            b',' => tail = json_blanks(&tail[1..]),
            _ => return None,
        }
        let (key, rest) = quoted(tail)?;
        let rest = json_blanks(json_blanks(rest).strip_prefix(b":")?);
        tail = match key {
            b"rust_version" if !seen_rust_version => {
                seen_rust_version = true;
                if let Some(rest) = rest.strip_prefix(b"null") {
                    rest
                } else {
                    let (value, rest) = quoted(rest)?;
                    rust_version = Some(value);
                    rest
                }
            }
            b"v" if !seen_v => {
                seen_v = true;
                if let Some(rest) = rest.strip_prefix(b"null") {
                    rest
                } else {
                    let (value, rest) = plain_number(rest)?;
                    v = Some(u32::try_from(decimal(value)?).ok()?);
                    rest
                }
            }
            b"rust_version" | b"v" | b"yanked" => return None,
            _ => skip_scalar(rest)?,
        };
    }
}

/// `rust_version` and `v` of a line's tail found by searching for their keys (the first
/// `rust_version`, the first `v` with a number); `None` when `rust_version` is neither a plain
/// string nor `null`, which the full parser then reads.
fn search_tail(tail: &[u8]) -> Option<(Option<&[u8]>, Option<u32>)> {
    let rust_version = match key_values(tail, b"\"rust_version\"").next() {
        // A value that is no plain string (escapes, `null`): the full parser decides.
        Some(value) if value.starts_with(b"null") => None,
        Some(value) => Some(string_value(value)?.0),
        None => None,
    };
    let v = key_values(tail, b"\"v\"").find_map(|value| {
        let end = value
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(value.len());
        u32::try_from(decimal(&value[..end])?).ok()
    });
    Some((rust_version, v))
}

/// `text` without the JSON whitespace it starts with.
fn json_blanks(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(text.len());
    &text[start..]
}

/// A string without escapes or control characters at the start of `text` (its bytes), and
/// the bytes after it.
fn quoted(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let text = text.strip_prefix(b"\"")?;
    let end = crate::json_scan::string_stop(text)?;
    (text[end] == b'"').then(|| (&text[..end], &text[end + 1..]))
}

/// The digits of a non-negative integer without leading zeros at the start of `text`, and
/// the bytes after them; `None` for any other number.
fn plain_number(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = text
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(end);
    let plain = !digits.is_empty()
        && (digits.len() == 1 || digits[0] != b'0')
        && !matches!(rest.first(), Some(b'.' | b'e' | b'E'));
    plain.then_some((digits, rest))
}

/// Skips a string without escapes, a plain number, `true`, `false` or `null` at the start of
/// `text`; `None` for anything else.
fn skip_scalar(text: &[u8]) -> Option<&[u8]> {
    if text.first() == Some(&b'"') {
        return quoted(text).map(|(_, rest)| rest);
    }
    for word in [&b"true"[..], b"false", b"null"] {
        if let Some(rest) = text.strip_prefix(word) {
            return Some(rest);
        }
    }
    plain_number(text).map(|(_, rest)| rest)
}

/// The values following each occurrence of `key` (quoted, followed by a colon) in `text`, in
/// order. Every occurrence starts with a quote, so the quotes are the candidates, found by a
/// vectorised byte search: cheaper than setting up a substring searcher twice per line (a
/// plain loop over the bytes was dearer still: 240.5 M instructions on popular-88 against
/// 230.0 M).
fn key_values<'a>(text: &'a [u8], key: &'static [u8]) -> impl Iterator<Item = &'a [u8]> {
    memchr::memchr_iter(b'"', text).filter_map(move |at| after_key(&text[at..], key))
}

/// The values following each occurrence of `key` (quoted, followed by a colon) in `text`,
/// from the last occurrence to the first. The candidates are the places of the key's first
/// letter after a quote, found by a vectorised reverse byte search (a reverse substring
/// search has no vectorised form, and cost a twentieth of scanning the index).
fn key_values_from_end<'a>(text: &'a [u8], key: &'static [u8]) -> impl Iterator<Item = &'a [u8]> {
    memchr::memrchr_iter(key[1], text)
        .filter(|&at| at > 0)
        .filter_map(move |at| after_key(&text[at - 1..], key))
}

/// `text` starts with `key`; returns what follows the colon after it.
fn after_key<'a>(text: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    Some(
        text.strip_prefix(key)?
            .trim_ascii_start()
            .strip_prefix(b":")?
            .trim_ascii_start(),
    )
}

/// A string value without escapes at the start of `text` (its bytes, not checked to be
/// UTF-8), and the bytes after it.
fn string_value(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let text = text.strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', text)?;
    let value = &text[..end];
    if value.contains(&b'\\') {
        return None;
    }
    Some((value, &text[end + 1..]))
}

fn rust_ok(toolchain: Option<&Version>, needed: Option<&str>) -> bool {
    match (toolchain, needed) {
        (Some(toolchain), Some(needed)) => {
            crate::manifest::parse_rust_version(needed).is_none_or(|needed| needed <= *toolchain)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick readers agree with the full parsers, or leave the text to them.
    #[test]
    fn quick_numbers_agree_with_the_full_parsers() {
        for text in [
            "1.2.3",
            "0.0.0",
            "10.20.30",
            "01.2.3",
            "1.02.3",
            "1.2",
            "1.2.3.4",
            "1.2.3-rc.1",
            "1.2.3+build",
            "",
            "1..3",
            "18446744073709551616.0.0",
            " 1.2.3",
        ] {
            let quick = plain_triple(text.as_bytes());
            let full = Version::parse(text).ok();
            match quick {
                Some((major, minor, patch)) => {
                    assert_eq!(full, Some(Version::new(major, minor, patch)), "{text}");
                }
                None => assert!(
                    full.as_ref()
                        .is_none_or(|v| !v.pre.is_empty() || !v.build.is_empty()),
                    "{text}"
                ),
            }
        }
        for text in ["1", "1.70", "1.70.1", " 1.70 ", "1.70.0.1", "1.x", "", "+1"] {
            if let Some((major, minor, patch)) = rust_version_triple(text.as_bytes()) {
                assert_eq!(
                    crate::manifest::parse_rust_version(text),
                    Some(Version::new(major, minor, patch)),
                    "{text}"
                );
            }
        }
    }

    /// A line whose `rust_version` is not a plain string is read by the full parser, with
    /// the same result.
    #[test]
    fn unusual_heads_fall_back_to_the_full_parser() {
        let toolchain = Version::new(1, 70, 0);
        let read = |line: &str| {
            let mut lines = Vec::new();
            ScannedLine::visit(&mut lines, "a", Some(&toolchain), 0, line.as_bytes());
            lines
                .into_iter()
                .map(|l| (l.version.to_string(), l.yanked, l.rust_ok))
                .collect::<Vec<_>>()
        };
        let fields = r#""deps":[],"cksum":"00","features":{}"#;
        assert_eq!(
            read(&format!(
                r#"{{"name":"a","vers":"1.0.0",{fields},"yanked":true,"rust_version":"1.80"}}"#
            )),
            [("1.0.0".to_owned(), true, false)]
        );
        assert_eq!(
            read(&format!(
                r#"{{"name":"a","vers":"1.0.0-rc.1",{fields},"yanked":false,"features2":{{"rust_version":["x"]}},"rust_version":"1.60"}}"#
            )),
            [("1.0.0-rc.1".to_owned(), false, true)]
        );
        assert_eq!(
            read(&format!(
                r#"{{"name":"a","vers":"1.0.0",{fields},"yanked":false,"rust_version":null}}"#
            )),
            [("1.0.0".to_owned(), false, true)]
        );
        assert!(
            read(&format!(
                r#"{{"name":"b","vers":"1.0.0",{fields},"yanked":false}}"#
            ))
            .is_empty()
        );
        assert!(
            read(&format!(
                r#"{{"name":"a","vers":"1.0.0",{fields},"yanked":false,"v":3}}"#
            ))
            .is_empty()
        );
    }

    /// The tail read in one pass agrees with the key search wherever it answers, and declines
    /// the tails it cannot read plainly.
    #[test]
    fn the_tail_read_in_one_pass_agrees_with_the_search() {
        let answered: [&[u8]; 6] = [
            br#", "rust_version": "1.70", "pubtime": "2026-01-01T00:00:00Z", "v": 2}"#,
            b"}",
            br#","links":null,"v":null,"rust_version":null}  "#,
            br#","links":"z","x":0,"y":true,"rust_version":"1.60"}"#,
            br#", "v": 0}"#,
            br#","v":4294967295}"#,
        ];
        for tail in answered {
            let text = String::from_utf8_lossy(tail);
            let found = read_tail(tail).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(Some(found), search_tail(tail), "{text}");
        }
        let declined: [&[u8]; 9] = [
            br#","features2":{"rust_version":["x"]},"rust_version":"1.60"}"#,
            br#","v":2,"v":3}"#,
            br#","v":2.5}"#,
            br#","v":02}"#,
            br#","v":4294967296}"#,
            br#","rust_version":"1\u002e70"}"#,
            br#","rust_version":"1.70"} x"#,
            br#","rust_version":"1.70""#,
            br#","yanked":true}"#,
        ];
        for tail in declined {
            assert_eq!(read_tail(tail), None, "{}", String::from_utf8_lossy(tail));
        }
    }

    /// Every line of the real-index fixture has its head read the quick way, with the result
    /// the full parser gives.
    #[test]
    fn quick_heads_agree_with_the_full_parser_on_the_fixture_index() {
        use std::io::Read as _;
        let archive = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/resolver/index.tar.gz"
        ))
        .unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
        let toolchain = Version::new(1, 70, 0);
        let mut lines = 0;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().into_owned();
            if !entry.header().entry_type().is_file() || path.ends_with("config.json") {
                continue;
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            for line in text.lines().filter(|line| !line.trim().is_empty()) {
                let quick = QuickHead::read(line.as_bytes()).expect("registry lines read quickly");
                let head = serde_json::from_str::<Head<'_>>(line).unwrap();
                assert_eq!(quick.name, head.name.as_bytes(), "{line}");
                assert_eq!(quick.vers, head.vers.as_bytes(), "{line}");
                assert_eq!(quick.yanked, head.yanked.unwrap_or(false), "{line}");
                assert_eq!(
                    quick.rust_version,
                    head.rust_version.as_deref().map(str::as_bytes),
                    "{line}"
                );
                assert_eq!(quick.v, head.v, "{line}");
                let read = read_head(line.as_bytes(), None, Some(&toolchain));
                let full = (
                    Version::parse(&head.vers).unwrap(),
                    head.yanked.unwrap_or(false),
                    rust_ok(Some(&toolchain), head.rust_version.as_deref()),
                );
                assert_eq!(read, Some(full), "{line}");
                lines += 1;
            }
        }
        assert!(lines > 20_000, "{lines}");
    }
}

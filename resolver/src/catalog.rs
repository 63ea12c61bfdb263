//! A package's catalog: its versions (read from the heads of its index lines, or from parsed
//! entries) sorted and grouped into compatibility buckets, each version's full details parsed
//! on first use (see `details.rs`). Built once per package name.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::ops::Range;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use memchr::memmem::{Finder, FinderRev};

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
        let Some(head) = Head::quick(line).or_else(|| serde_json::from_slice(line).ok()) else {
            return;
        };
        if head.name != name || head.v.unwrap_or(1) > INDEX_V_MAX {
            return;
        }
        let Ok(version) = Version::parse(&head.vers) else {
            return;
        };
        lines.push(Self {
            version,
            yanked: head.yanked.unwrap_or(false),
            rust_ok: rust_ok(rust_version, head.rust_version.as_deref()),
            offset,
            len: line.len(),
        });
    }
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

impl<'a> Head<'a> {
    /// Reads the head of a line laid out as registries write it: `name` and `vers` first,
    /// then `deps`, `cksum`, `features`, and `yanked` before `rust_version` and `v`. Keys
    /// are found by their quoted text followed by a colon (quotes inside JSON strings are
    /// escaped, so that text is a key) and a value of the right type (a feature of the same
    /// name has a list). `yanked` is searched from the end of the line, the two keys after it
    /// only in the rest, so long `deps` and `features` are not scanned. `None` when the
    /// layout differs: the caller then parses the line properly.
    fn quick(line: &'a [u8]) -> Option<Self> {
        let rest = line.strip_prefix(b"{")?;
        let (name, rest) = string_value(after_key(rest.trim_ascii_start(), b"\"name\"")?)?;
        let rest = rest
            .trim_ascii_start()
            .strip_prefix(b",")?
            .trim_ascii_start();
        let (vers, rest) = string_value(after_key(rest, b"\"vers\"")?)?;
        let (yanked, tail) = yanked_finder().rfind_iter(rest).find_map(|at| {
            let value = after_key(&rest[at..], b"\"yanked\"")?;
            [(&b"true"[..], true), (b"false", false), (b"null", false)]
                .into_iter()
                .find_map(|(text, yanked)| value.strip_prefix(text).map(|tail| (yanked, tail)))
        })?;
        let rust_version = key_values(tail, rust_version_finder())
            .find_map(string_value)
            .map(|(value, _)| Cow::Borrowed(value));
        let v = key_values(tail, v_finder()).find_map(|value| {
            let end = value
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(value.len());
            std::str::from_utf8(&value[..end]).ok()?.parse().ok()
        });
        Some(Self {
            name: Cow::Borrowed(name),
            vers: Cow::Borrowed(vers),
            yanked: Some(yanked),
            rust_version,
            v,
        })
    }
}

/// The values following each occurrence of the finder's key (quoted) in `text`.
fn key_values<'a>(
    text: &'a [u8],
    finder: &'static Finder<'static>,
) -> impl Iterator<Item = &'a [u8]> {
    let key = finder.needle();
    finder
        .find_iter(text)
        .filter_map(move |at| after_key(&text[at..], key))
}

/// A prebuilt searcher for `"rust_version"` (building one per line showed in profiles).
fn rust_version_finder() -> &'static Finder<'static> {
    static FINDER: OnceLock<Finder<'static>> = OnceLock::new();
    FINDER.get_or_init(|| Finder::new("\"rust_version\""))
}

/// A prebuilt searcher for `"v"`.
fn v_finder() -> &'static Finder<'static> {
    static FINDER: OnceLock<Finder<'static>> = OnceLock::new();
    FINDER.get_or_init(|| Finder::new("\"v\""))
}

/// A prebuilt reverse searcher for `"yanked"`.
fn yanked_finder() -> &'static FinderRev<'static> {
    static FINDER: OnceLock<FinderRev<'static>> = OnceLock::new();
    FINDER.get_or_init(|| FinderRev::new("\"yanked\""))
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

/// A UTF-8 string value without escapes at the start of `text`, and the bytes after it.
fn string_value(text: &[u8]) -> Option<(&str, &[u8])> {
    let text = text.strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', text)?;
    let value = &text[..end];
    if value.contains(&b'\\') {
        return None;
    }
    Some((std::str::from_utf8(value).ok()?, &text[end + 1..]))
}

fn rust_ok(toolchain: Option<&Version>, needed: Option<&str>) -> bool {
    match (toolchain, needed) {
        (Some(toolchain), Some(needed)) => {
            crate::manifest::parse_rust_version(needed).is_none_or(|needed| needed <= *toolchain)
        }
        _ => true,
    }
}

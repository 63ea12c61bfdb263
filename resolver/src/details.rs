//! What the solver needs of a version beyond its number (dependencies, feature table,
//! checksum, `links`), read from its index line only when the version is tried.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::rc::Rc;

use semver::{Version, VersionReq};
use serde::Deserialize;
use wharf_index_format::{DependencyKind, FeatureMap, INDEX_V_MAX, IndexDependency, IndexEntry};

use crate::catalog::Dep;
use crate::json_scan::Cursor;
use crate::version_set::SemverSet;

/// The resolver's own hash maps, keyed by package names, features and requirement texts:
/// `foldhash` (seeded per process) hashes these short keys in a fraction of SipHash's time,
/// which showed in profiles of large graphs.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What the solver needs of a version beyond its number, parsed only when the version is
/// tried: most versions of a package never are.
#[derive(Debug)]
pub(crate) struct Details {
    pub(crate) checksum: Rc<str>,
    pub(crate) links: Option<Rc<str>>,
    /// Dependencies that matter to a non-root package (dev-dependencies dropped).
    pub(crate) deps: Vec<Dep>,
    /// The feature table, `features2` merged and implicit optional-dependency features added.
    pub(crate) features: FastMap<Rc<str>, Rc<[Rc<str>]>>,
}

impl Details {
    /// The details of a parsed entry; `None` when a requirement is invalid.
    pub(crate) fn of_entry(
        name: &str,
        entry: &IndexEntry,
        cache: &mut RequirementCache,
    ) -> Option<Box<Self>> {
        build_details(name, DetailLine::of(entry), cache).map(Box::new)
    }

    /// The details of `version` from its raw index line; `None` when the line is unusable or
    /// (the file changed since it was scanned) is no longer that version's.
    pub(crate) fn of_line(
        name: &str,
        line: &str,
        version: &Version,
        cache: &mut RequirementCache,
    ) -> Option<Box<Self>> {
        // The fast reader takes lines as registries write them; anything else (escapes,
        // unusual numbers, repeated keys) goes to serde_json. Its strings are borrowed from
        // the line; a line whose strings hold escapes cannot lend them and is read again
        // into owned ones.
        if let Some(parts) = FastLine::read(line) {
            return parts.details(name, version, cache);
        }
        if let Ok(parts) = serde_json::from_str::<DetailLine<&str>>(line) {
            checked(name, parts, version, cache)
        } else {
            let parts = serde_json::from_str::<DetailLine<String>>(line).ok()?;
            checked(name, parts, version, cache)
        }
    }
}

/// [`build_details`] after checking the line is `version`'s and of a schema cargo reads (a
/// line laid out unusually may hide its schema version from the quick head reader).
fn checked<S: AsRef<str> + Ord>(
    name: &str,
    parts: DetailLine<S>,
    version: &Version,
    cache: &mut RequirementCache,
) -> Option<Box<Details>> {
    let same_version = Version::parse(parts.vers.as_ref()).is_ok_and(|v| v == *version);
    if !same_version || parts.v.unwrap_or(1) > INDEX_V_MAX {
        return None;
    }
    build_details(name, parts, cache).map(Box::new)
}

/// Parses requirement strings once per resolution.
#[derive(Debug, Default)]
pub(crate) struct RequirementCache {
    parsed: FastMap<Box<str>, Option<(Rc<str>, SemverSet)>>,
}

impl RequirementCache {
    /// The requirement, as cargo would print it, whose set is exactly `set`.
    pub(crate) fn text_of(&self, set: &SemverSet) -> Option<String> {
        let mut texts: Vec<&str> = self
            .parsed
            .values()
            .flatten()
            .filter(|(_, parsed)| parsed == set)
            .map(|(text, _)| &**text)
            .collect();
        texts.sort_unstable();
        let text = texts.first()?;
        Some(VersionReq::parse(text).map_or_else(|_| (*text).to_owned(), |req| req.to_string()))
    }

    /// The set of `text`, or `None` when it does not parse.
    pub(crate) fn get(&mut self, text: &str) -> Option<(Rc<str>, SemverSet)> {
        if let Some(found) = self.parsed.get(text) {
            return found.clone();
        }
        let parsed = VersionReq::parse(text)
            .ok()
            .map(|req| (Rc::from(text), SemverSet::from_req(&req)));
        self.parsed.insert(text.into(), parsed.clone());
        parsed
    }
}

/// Turns one index dependency into a solver dependency; `None` when its requirement is invalid.
pub(crate) fn convert_index_dep(
    dep: &IndexDependency,
    cache: &mut RequirementCache,
) -> Option<Dep> {
    convert_dep(&DetailDep::of(dep), cache)
}

/// Turns one dependency into a solver dependency; `None` when its requirement is invalid.
fn convert_dep<S: AsRef<str>>(dep: &DetailDep<S>, cache: &mut RequirementCache) -> Option<Dep> {
    let (req, set) = cache.get(dep.req.as_ref())?;
    let alias = dep.name.as_ref();
    Some(Dep {
        alias: Rc::from(alias),
        package: Rc::from(dep.package.as_ref().map_or(alias, AsRef::as_ref)),
        req,
        set,
        features: dep.features.iter().map(|f| Rc::from(f.as_ref())).collect(),
        default_features: dep.default_features,
        optional: dep.optional,
    })
}

/// The parts of an index line that [`Details`] need, read without the catch-all of unknown
/// fields that makes a full [`IndexEntry`] slow to parse. `S` is `&str` when the strings can be
/// borrowed from the line, `String` otherwise; the types and defaults are those of
/// [`IndexEntry`], so a line this refuses is one cargo's schema refuses too.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Ord"))]
struct DetailLine<S> {
    vers: S,
    deps: Vec<DetailDep<S>>,
    cksum: S,
    #[serde(default = "BTreeMap::new")]
    features: BTreeMap<S, Vec<S>>,
    #[serde(default)]
    features2: Option<BTreeMap<S, Vec<S>>>,
    #[serde(default)]
    links: Option<S>,
    #[serde(default)]
    v: Option<u32>,
}

/// One dependency of a [`DetailLine`] (the fields of [`IndexDependency`]).
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
struct DetailDep<S> {
    name: S,
    req: S,
    #[serde(default = "Vec::new")]
    features: Vec<S>,
    #[serde(default)]
    optional: bool,
    #[serde(default = "default_true")]
    default_features: bool,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read only to refuse a line whose target is not a string, as cargo's schema does"
    )]
    target: Option<S>,
    #[serde(default)]
    kind: DependencyKind,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read only to refuse a line whose registry is not a string"
    )]
    registry: Option<S>,
    #[serde(default)]
    package: Option<S>,
}

fn default_true() -> bool {
    true
}

impl<'e> DetailDep<&'e str> {
    /// A parsed dependency, borrowed.
    fn of(dep: &'e IndexDependency) -> Self {
        Self {
            name: dep.name.as_str(),
            req: dep.req.as_str(),
            features: dep.features.iter().map(String::as_str).collect(),
            optional: dep.optional,
            default_features: dep.default_features,
            target: dep.target.as_deref(),
            kind: dep.kind,
            registry: dep.registry.as_deref(),
            package: dep.package.as_deref(),
        }
    }
}

impl<'e> DetailLine<&'e str> {
    /// The parts of a parsed entry, borrowed.
    fn of(entry: &'e IndexEntry) -> Self {
        let map = |features: &'e FeatureMap| {
            features
                .iter()
                .map(|(name, values)| (name.as_str(), values.iter().map(String::as_str).collect()))
                .collect()
        };
        Self {
            vers: "",
            deps: entry.deps.iter().map(DetailDep::of).collect(),
            cksum: entry.cksum.as_str(),
            features: map(&entry.features),
            features2: entry.features2.as_ref().map(map),
            links: entry.links.as_deref(),
            v: entry.v,
        }
    }
}

fn build_details<S: AsRef<str> + Ord>(
    name: &str,
    line: DetailLine<S>,
    cache: &mut RequirementCache,
) -> Option<Details> {
    let deps = convert_deps(name, &line.deps, cache)?;
    let mut all = line.features;
    for (feature, values) in line.features2.unwrap_or_default() {
        all.entry(feature).or_default().extend(values);
    }
    let mut features: FastMap<Rc<str>, Rc<[Rc<str>]>> =
        FastMap::with_capacity_and_hasher(all.len(), foldhash::fast::RandomState::default());
    for (name, values) in &all {
        features.insert(
            Rc::from(name.as_ref()),
            values.iter().map(|v| Rc::from(v.as_ref())).collect(),
        );
    }
    add_implicit_features(&deps, &mut features);
    Some(Details {
        checksum: Rc::from(line.cksum.as_ref()),
        links: line.links.as_ref().map(|links| Rc::from(links.as_ref())),
        deps,
        features,
    })
}

/// The solver's dependencies of a version (dev-dependencies dropped); `None` when a
/// requirement is invalid.
fn convert_deps<S: AsRef<str>>(
    name: &str,
    deps: &[DetailDep<S>],
    cache: &mut RequirementCache,
) -> Option<Vec<Dep>> {
    let mut converted = Vec::with_capacity(deps.len());
    for dep in deps {
        if dep.kind == DependencyKind::Dev {
            continue;
        }
        let Some(dep) = convert_dep(dep, cache) else {
            tracing::debug!(
                package = name,
                req = dep.req.as_ref(),
                "version has an invalid requirement"
            );
            return None;
        };
        converted.push(dep);
    }
    Some(converted)
}

/// Adds the implicit feature of each optional dependency that no feature names with `dep:`
/// and no feature of the same name hides, as cargo does.
fn add_implicit_features(deps: &[Dep], features: &mut FastMap<Rc<str>, Rc<[Rc<str>]>>) {
    if !deps.iter().any(|d| d.optional) {
        return;
    }
    let referenced_with_dep: Vec<&str> = features
        .values()
        .flat_map(|values| values.iter())
        .filter_map(|value| value.strip_prefix("dep:"))
        .collect();
    let implicit: Vec<Rc<str>> = deps
        .iter()
        .filter(|d| d.optional)
        .filter(|d| !referenced_with_dep.contains(&&*d.alias) && !features.contains_key(&d.alias))
        .map(|d| Rc::clone(&d.alias))
        .collect();
    for alias in implicit {
        let value: Rc<str> = Rc::from(format!("dep:{alias}"));
        features.insert(alias, Rc::from([value]));
    }
}

/// The most `features2` entries the fast reader merges (a longer table goes to serde_json,
/// keeping the check for repeated names short).
const FAST_FEATURES2_MAX: usize = 64;

/// An index line as the fast reader ([`crate::json_scan`]) finds it, strings borrowed from
/// the line. The feature tables keep their entries in line order, each value list a range
/// of `values`.
struct FastLine<'a> {
    vers: &'a str,
    deps: Vec<DetailDep<&'a str>>,
    cksum: &'a str,
    features: Vec<(&'a str, Range<usize>)>,
    features2: Option<Vec<(&'a str, Range<usize>)>>,
    values: Vec<&'a str>,
    links: Option<&'a str>,
    v: Option<u32>,
}

impl<'a> FastLine<'a> {
    /// Reads `line` as [`DetailLine`] would, or `None` when the fast reader cannot be sure
    /// to (then serde_json reads it): the same fields, types and defaults, repeated keys
    /// refused.
    fn read(line: &'a str) -> Option<Self> {
        let mut cursor = Cursor::new(line);
        let mut seen = 0u16;
        let (mut vers, mut deps, mut cksum) = (None, None, None);
        let mut values = Vec::new();
        let mut features = Vec::new();
        let mut features2 = None;
        let (mut links, mut v) = (None, None);
        cursor.object(|cursor, key| {
            match key {
                "vers" => {
                    first(&mut seen, 1)?;
                    vers = Some(cursor.string()?);
                }
                "deps" => {
                    first(&mut seen, 2)?;
                    let mut list = Vec::new();
                    cursor.array(|cursor| {
                        list.push(read_dep(cursor)?);
                        Some(())
                    })?;
                    deps = Some(list);
                }
                "cksum" => {
                    first(&mut seen, 4)?;
                    cksum = Some(cursor.string()?);
                }
                "features" => {
                    first(&mut seen, 8)?;
                    read_feature_table(cursor, &mut features, &mut values)?;
                }
                "features2" => {
                    first(&mut seen, 16)?;
                    if !cursor.null() {
                        let mut table = Vec::new();
                        read_feature_table(cursor, &mut table, &mut values)?;
                        features2 = Some(table);
                    }
                }
                "links" => {
                    first(&mut seen, 32)?;
                    links = cursor.optional_string()?;
                }
                "v" => {
                    first(&mut seen, 64)?;
                    v = if cursor.null() {
                        None
                    } else {
                        Some(cursor.small_number()?)
                    };
                }
                _ => cursor.skip_value()?,
            }
            Some(())
        })?;
        if !cursor.at_end()
            || features2
                .as_ref()
                .is_some_and(|t| t.len() > FAST_FEATURES2_MAX)
        {
            return None;
        }
        Some(Self {
            vers: vers?,
            deps: deps?,
            cksum: cksum?,
            features,
            features2,
            values,
            links,
            v,
        })
    }

    /// [`checked`] and [`build_details`] for a line the fast reader read.
    fn details(
        self,
        name: &str,
        version: &Version,
        cache: &mut RequirementCache,
    ) -> Option<Box<Details>> {
        let same_version = Version::parse(self.vers).is_ok_and(|v| v == *version);
        if !same_version || self.v.unwrap_or(1) > INDEX_V_MAX {
            return None;
        }
        let deps = convert_deps(name, &self.deps, cache)?;
        let values = &self.values;
        let list = |range: &Range<usize>| -> Rc<[Rc<str>]> {
            values[range.clone()].iter().map(|v| Rc::from(*v)).collect()
        };
        let extra = self.features2.as_ref().map_or(0, Vec::len);
        let mut features: FastMap<Rc<str>, Rc<[Rc<str>]>> = FastMap::with_capacity_and_hasher(
            self.features.len() + extra,
            foldhash::fast::RandomState::default(),
        );
        // A repeated name: the later entry wins, as in a map read from JSON.
        for (feature, range) in &self.features {
            features.insert(Rc::from(*feature), list(range));
        }
        // `features2` is merged as cargo does: its values are appended per name.
        let features2 = self.features2.as_deref().unwrap_or_default();
        for (i, (feature, range)) in features2.iter().enumerate() {
            if features2[i + 1..].iter().any(|(later, _)| later == feature) {
                continue;
            }
            match features.get_mut(*feature) {
                Some(existing) => {
                    let added = values[range.clone()].iter().map(|v| Rc::from(*v));
                    *existing = existing.iter().cloned().chain(added).collect();
                }
                None => {
                    features.insert(Rc::from(*feature), list(range));
                }
            }
        }
        add_implicit_features(&deps, &mut features);
        Some(Box::new(Details {
            checksum: Rc::from(self.cksum),
            links: self.links.map(Rc::from),
            deps,
            features,
        }))
    }
}

/// Marks the field `bit` of `seen` as read; `None` when it was read before (serde refuses a
/// repeated field).
fn first(seen: &mut u16, bit: u16) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// Reads a feature table (`{"name": ["value", …], …}`) into `entries`, its values appended
/// to `values`.
fn read_feature_table<'a>(
    cursor: &mut Cursor<'a>,
    entries: &mut Vec<(&'a str, Range<usize>)>,
    values: &mut Vec<&'a str>,
) -> Option<()> {
    cursor.object(|cursor, feature| {
        let start = values.len();
        cursor.array(|cursor| {
            values.push(cursor.string()?);
            Some(())
        })?;
        entries.push((feature, start..values.len()));
        Some(())
    })
}

/// Reads one dependency as [`DetailDep`] would (the same fields, types and defaults, repeated
/// keys refused), or `None` when the fast reader cannot be sure to.
fn read_dep<'a>(cursor: &mut Cursor<'a>) -> Option<DetailDep<&'a str>> {
    let mut seen = 0u16;
    let mut dep = DetailDep {
        name: "",
        req: "",
        features: Vec::new(),
        optional: false,
        default_features: true,
        target: None,
        kind: DependencyKind::Normal,
        registry: None,
        package: None,
    };
    cursor.object(|cursor, key| {
        match key {
            "name" => {
                first(&mut seen, 1)?;
                dep.name = cursor.string()?;
            }
            "req" => {
                first(&mut seen, 2)?;
                dep.req = cursor.string()?;
            }
            "features" => {
                first(&mut seen, 4)?;
                cursor.array(|cursor| {
                    dep.features.push(cursor.string()?);
                    Some(())
                })?;
            }
            "optional" => {
                first(&mut seen, 8)?;
                dep.optional = cursor.boolean()?;
            }
            "default_features" => {
                first(&mut seen, 16)?;
                dep.default_features = cursor.boolean()?;
            }
            // Checked, not kept (the solver does not read them): targets often quote.
            "target" => {
                first(&mut seen, 32)?;
                cursor.skip_optional_string()?;
            }
            "registry" => {
                first(&mut seen, 64)?;
                cursor.skip_optional_string()?;
            }
            // As `DependencyKind` reads it: unknown kinds and `null` are normal.
            "kind" => {
                first(&mut seen, 128)?;
                dep.kind = match cursor.optional_string()? {
                    Some("build") => DependencyKind::Build,
                    Some("dev") => DependencyKind::Dev,
                    _ => DependencyKind::Normal,
                };
            }
            "package" => {
                first(&mut seen, 256)?;
                dep.package = cursor.optional_string()?;
            }
            _ => cursor.skip_value()?,
        }
        Some(())
    })?;
    // `name` and `req` are required.
    (seen & 3 == 3).then_some(dep)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// Everything the solver reads of a version's details, in a stable order.
    fn describe(details: Option<&Details>) -> String {
        let Some(details) = details else {
            return "unusable".to_owned();
        };
        let mut features: Vec<String> = details
            .features
            .iter()
            .map(|(name, values)| format!("{name}={values:?}"))
            .collect();
        features.sort();
        let deps: Vec<String> = details
            .deps
            .iter()
            .map(|d| {
                format!(
                    "{} {} {} {:?} {} {} {}",
                    d.alias, d.package, d.req, d.features, d.default_features, d.optional, d.set
                )
            })
            .collect();
        format!(
            "{} {:?}\n{}\n{}",
            details.checksum,
            details.links,
            deps.join("\n"),
            features.join("\n")
        )
    }

    /// The details of `line` the fast way (`None` when it declines) and through serde_json.
    fn both_ways(line: &str, version: &Version) -> (Option<String>, String) {
        let fast = FastLine::read(line).map(|parts| {
            describe(
                parts
                    .details("p", version, &mut RequirementCache::default())
                    .as_deref(),
            )
        });
        let slow = match serde_json::from_str::<DetailLine<String>>(line) {
            Ok(parts) => checked("p", parts, version, &mut RequirementCache::default()),
            Err(_) => None,
        };
        (fast, describe(slow.as_deref()))
    }

    /// Every line of the real-index fixture takes the fast way and reads as serde_json reads it.
    #[test]
    fn the_fast_reader_agrees_with_serde_json_on_the_fixture_index() {
        let archive = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/resolver/index.tar.gz"
        ))
        .unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
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
                let head: serde_json::Value = serde_json::from_str(line).unwrap();
                let version = Version::parse(head["vers"].as_str().unwrap()).unwrap();
                let (fast, slow) = both_ways(line, &version);
                assert_eq!(fast.as_ref(), Some(&slow), "{}: {line}", path.display());
                lines += 1;
            }
        }
        assert!(lines > 20_000, "{lines}");
    }

    /// Lines the fast reader cannot be sure about go to serde_json; those it takes read the
    /// same.
    #[test]
    fn unusual_lines_fall_back_or_agree() {
        let version = Version::new(1, 0, 0);
        let dep = r#"{"name":"b","req":"^1","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"}"#;
        let line = |rest: &str| {
            format!(r#"{{"name":"a","vers":"1.0.0","deps":[{dep}],"cksum":"00"{rest}}}"#)
        };
        let declined = [
            line(r#","features":{"x":["a\"b"]}"#),
            line(r#","features":{"x":[]},"features":{}"#),
            line(r#","v":2.0"#),
            line(r#","v":-1"#),
            line(r#","features":null"#),
            line(r#","links":5"#),
            format!("{} x", line("")),
            r#"{"name":"a","vers":"1.0.0","deps":[{"name":"b"}],"cksum":"00"}"#.to_owned(),
            r#"{"name":"a","vers":"1.0.0","deps":[{"name":"b","req":"1","kind":7}],"cksum":"00"}"#
                .to_owned(),
            r#"{"name":"a","vers":"1.0.0","deps":[],"cksum":"00","features":{"x":["\u0041"]}}"#
                .to_owned(),
        ];
        for text in &declined {
            let (fast, slow) = both_ways(text, &version);
            assert_eq!(fast, None, "{text}");
            if text.contains("\\u0041") {
                assert!(slow.contains("x=[\"A\"]"), "{slow}");
            }
        }
        let taken = [
            line(""),
            line(r#","features":{"x":["dep:b"],"y":["x","b/f"]},"yanked":false,"links":"z","v":2"#),
            line(r#","features":{"x":["b"],"x":["c"]},"features2":{"x":["d"],"w":["dep:b"]}"#),
            line(r#","features2":{"x":["d"],"x":["e"]},"features":{"x":["c"]}"#),
            line(r#","features2":null,"links":null,"v":null,"pubtime":"2026-01-01T00:00:00Z""#),
            line(r#","v":3"#),
            line(r#","other":{"a":[1,2.5,-3e2,true,null,{}]}"#),
            r#"{"name":"a","vers":"2.0.0","deps":[],"cksum":"00"}"#.to_owned(),
            r#"{"name":"a","vers":"1.0.0","deps":[{"name":"b","req":"not a req"}],"cksum":"00"}"#
                .to_owned(),
            r#" { "vers" : "1.0.0" , "deps" : [ { "req" : "1" , "name" : "b" , "kind" : null , "package" : "c" } ] , "cksum" : "00" } "#
                .to_owned(),
        ];
        for text in &taken {
            let (fast, slow) = both_ways(text, &version);
            assert_eq!(fast.as_ref(), Some(&slow), "{text}");
        }
    }
}

//! The ecosystem model: which plugins exist, their versions, host API ranges, dependencies,
//! capabilities, yanks and the deliberate conflicts, all drawn from one seed.

use std::collections::BTreeMap;

use wharf_index_format::{
    Capabilities, FeatureMap, HOST_API_PACKAGE, PluginDependency, PluginKind, PluginManifest,
    PluginSection, StorageAccess,
};

use super::random::{Choices, zipf_weights};

/// The newest minor of each host API major (1.0–1.9, 2.0–2.6, 3.0–3.2).
pub const HOST_MINORS: [u64; 3] = [9, 6, 2];

const FIRST_WORDS: &[&str] = &[
    "acme", "blue", "swift", "quiet", "bright", "north", "delta", "polar", "amber", "cedar",
    "rapid", "solid", "lunar", "coral", "ember", "iron", "maple", "nova", "prism", "tidal",
];
const SECOND_WORDS: &[&str] = &[
    "sync", "bridge", "relay", "sheet", "crm", "ledger", "inbox", "vault", "pipe", "queue",
    "forms", "chat", "files", "tasks", "calendar", "billing", "search", "audit", "metrics", "docs",
];
const CATEGORIES: &[&str] = &["connectors", "triggers", "steps", "data", "notifications"];
const FEATURES: &[&str] = &["json", "csv", "retry", "batch", "streaming", "tls", "cache"];
/// Resources one plugin of an installation may hold.
pub const EXCLUSIVE_RESOURCES: &[&str] = &[
    "inbound-http",
    "smtp-listener",
    "mq-consumer-group",
    "cron-leader",
    "file-watcher",
];

/// How many plugins and which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcosystemParams {
    /// The seed: the same seed gives the same bytes.
    pub seed: u64,
    /// How many plugins (packages); each has one to six versions.
    pub plugins: usize,
}

/// One generated plugin version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedVersion {
    /// Its manifest.
    pub manifest: PluginManifest,
    /// The host API majors its `host-api` range allows (`lowest..=highest`).
    pub host_majors: (u64, u64),
    /// Whether the yank list names it.
    pub yanked: bool,
}

impl GeneratedVersion {
    /// `[plugin] name`.
    pub fn name(&self) -> &str {
        &self.manifest.plugin.name
    }

    /// `[plugin] version`.
    pub fn version(&self) -> &str {
        &self.manifest.plugin.version
    }
}

/// A version no host can install, on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The plugin.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Why nothing can satisfy it.
    pub reason: String,
}

/// A generated ecosystem: versions in publish order (every dependency before its
/// dependents) and the deliberate conflicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ecosystem {
    /// Every version, in publish order.
    pub versions: Vec<GeneratedVersion>,
    /// Versions that cannot be installed, and why.
    pub conflicts: Vec<Conflict>,
}

/// What the model remembers of a published version while generating later ones.
struct Known {
    name: String,
    major: u64,
    minor: u64,
    host_majors: (u64, u64),
    exclusive: Option<String>,
}

impl Known {
    fn fits(&self, host_major: u64) -> bool {
        (self.host_majors.0..=self.host_majors.1).contains(&host_major)
    }
}

/// Generates the ecosystem for `params`.
pub fn generate(params: EcosystemParams) -> Ecosystem {
    let mut rng = Choices::new(params.seed);
    let weights = zipf_weights(params.plugins.max(1));
    // Per plugin (by index), its versions as far as generated.
    let mut known: Vec<Vec<Known>> = Vec::with_capacity(params.plugins);
    let mut versions = Vec::new();
    let mut conflicts = Vec::new();
    for index in 0..params.plugins {
        let name = format!(
            "{}-{}-{index}",
            rng.pick(FIRST_WORDS),
            rng.pick(SECOND_WORDS)
        );
        let kind = if index > 20 && rng.percent(8) {
            PluginKind::Template
        } else {
            PluginKind::Plugin
        };
        let era = u64::try_from(index * 3 / params.plugins.max(1)).expect("small");
        let mut host_major = (1 + era).saturating_sub(u64::from(rng.percent(30))).max(1);
        let exclusive = (kind == PluginKind::Plugin && rng.percent(6))
            .then(|| (*rng.pick(EXCLUSIVE_RESOURCES)).to_owned());
        let capabilities = capabilities(&mut rng, kind, exclusive.clone(), index);
        let count = 1 + rng.weighted(&[10, 22, 25, 20, 13, 10]);
        let (mut major, mut minor, mut patch) = (1_u64, 0_u64, 0_u64);
        let mut mine: Vec<Known> = Vec::new();
        let mut generated: Vec<GeneratedVersion> = Vec::new();
        for step in 0..count {
            if step > 0 {
                ((major, minor, patch), host_major) =
                    next_version(&mut rng, (major, minor, patch), host_major);
            }
            let (host_req, host_majors, host_minor) = draw_host_range(&mut rng, host_major);
            let version = format!("{major}.{minor}.{patch}");
            let (dependencies, features, conflict) = draw_dependencies(
                &mut rng,
                &Draw {
                    weights: &weights,
                    known: &known,
                    index,
                    kind,
                    host_major,
                    host_req: &host_req,
                },
            );
            if let Some(reason) = conflict {
                conflicts.push(Conflict {
                    name: name.clone(),
                    version: version.clone(),
                    reason,
                });
            }
            let section = PluginSection {
                name: name.clone(),
                version,
                kind,
                description: format!(
                    "Generated {kind} {name}: {} for host API {host_req}",
                    rng.pick(SECOND_WORDS)
                ),
                license: (*rng.pick(&["Apache-2.0", "MIT", "Apache-2.0 OR MIT", "MPL-2.0"]))
                    .to_owned(),
                authors: vec![format!("Author {0} <a{0}@example.com>", index % 97)],
                repository: Some(format!("https://example.com/plugins/{name}")),
                entry: entry_file(kind).to_owned(),
                categories: vec![(*rng.pick(CATEGORIES)).to_owned()],
                keywords: vec![(*rng.pick(SECOND_WORDS)).to_owned()],
                min_host_version: Some(format!("{host_major}.{host_minor}.0")),
                readme: None,
            };
            let manifest = PluginManifest {
                plugin: section,
                dependencies,
                features,
                capabilities: capabilities.clone(),
                template: None,
            };
            mine.push(Known {
                name: name.clone(),
                major,
                minor,
                host_majors,
                exclusive: exclusive.clone(),
            });
            generated.push(GeneratedVersion {
                manifest,
                host_majors,
                yanked: false,
            });
        }
        // Yank some versions that a later version of the same major replaces, so a
        // requirement written against them still finds a version.
        for at in 0..generated.len().saturating_sub(1) {
            if mine[at + 1].major == mine[at].major && rng.percent(12) {
                generated[at].yanked = true;
            }
        }
        known.push(mine);
        versions.extend(generated);
    }
    Ecosystem {
        versions,
        conflicts,
    }
}

/// The version after `(major, minor, patch)`: one in five moves to the next host API major
/// with a new major of its own, then minors are likelier than patches.
fn next_version(
    rng: &mut Choices,
    (major, minor, patch): (u64, u64, u64),
    host_major: u64,
) -> ((u64, u64, u64), u64) {
    match rng.below(100) {
        r if r < 20 && host_major < 3 => ((major + 1, 0, 0), host_major + 1),
        r if r < 65 => ((major, minor + 1, 0), host_major),
        _ => ((major, minor, patch + 1), host_major),
    }
}

/// A `host-api` requirement within `host_major` (one in ten spanning the next major too),
/// the majors it allows, and its minimum minor.
fn draw_host_range(rng: &mut Choices, host_major: u64) -> (String, (u64, u64), u64) {
    let newest_minor = HOST_MINORS[usize::try_from(host_major - 1).expect("small")];
    let host_minor =
        u64::try_from(rng.below(usize::try_from(newest_minor + 1).expect("small"))).expect("small");
    let spanning = host_major < 3 && rng.percent(10);
    if spanning {
        (
            format!(">={host_major}.{host_minor}, <{}", host_major + 2),
            (host_major, host_major + 1),
            host_minor,
        )
    } else {
        (
            format!("^{host_major}.{host_minor}"),
            (host_major, host_major),
            host_minor,
        )
    }
}

/// What [`draw_dependencies`] draws for.
struct Draw<'a> {
    weights: &'a [u64],
    known: &'a [Vec<Known>],
    index: usize,
    kind: PluginKind,
    host_major: u64,
    host_req: &'a str,
}

/// A version's dependencies (the host API first), its features, and, for a deliberate
/// conflict, why it cannot be installed.
fn draw_dependencies(
    rng: &mut Choices,
    draw: &Draw<'_>,
) -> (
    BTreeMap<String, PluginDependency>,
    FeatureMap,
    Option<String>,
) {
    let Draw {
        weights,
        known,
        index,
        kind,
        host_major,
        host_req,
    } = *draw;
    let mut dependencies = BTreeMap::new();
    dependencies.insert(HOST_API_PACKAGE.to_owned(), PluginDependency::new(host_req));
    let mut features = FeatureMap::new();
    let wanted = if kind == PluginKind::Template {
        2 + rng.below(4)
    } else {
        rng.weighted(&[40, 30, 18, 8, 4])
    };
    for _ in 0..wanted {
        if index == 0 {
            break;
        }
        let target = rng.weighted(&weights[..index]);
        let Some(dep) = known[target].iter().rev().find(|k| k.fits(host_major)) else {
            continue;
        };
        if dependencies.contains_key(&dep.name) {
            continue;
        }
        let mut spec = PluginDependency::new(&format!("^{}.{}", dep.major, dep.minor));
        if kind == PluginKind::Plugin && rng.percent(15) {
            spec.optional = true;
            features.insert(
                format!("with-{}", dep.name),
                vec![format!("dep:{}", dep.name)],
            );
        }
        dependencies.insert(dep.name.clone(), spec);
    }
    let roll = rng.below(100);
    let conflict = if index == 0 {
        None
    } else if roll < 3 {
        add_host_conflict(rng, known, index, host_major, &mut dependencies)
    } else if roll < 6 {
        add_exclusive_conflict(known, index, host_major, &mut dependencies)
    } else {
        None
    };
    let extra = rng.below(4);
    for feature in FEATURES.iter().skip(rng.below(FEATURES.len())).take(extra) {
        features.insert((*feature).to_owned(), Vec::new());
    }
    let defaults: Vec<String> = features
        .keys()
        .filter(|f| FEATURES.contains(&f.as_str()))
        .take(1)
        .cloned()
        .collect();
    features.insert("default".to_owned(), defaults);
    (dependencies, features, conflict)
}

/// The entry file of a kind.
pub(crate) fn entry_file(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Plugin => "main.wat",
        PluginKind::Template => "template.json",
    }
}

fn capabilities(
    rng: &mut Choices,
    kind: PluginKind,
    exclusive: Option<String>,
    index: usize,
) -> Capabilities {
    if kind == PluginKind::Template {
        return Capabilities::default();
    }
    let network = (0..rng.weighted(&[35, 40, 20, 5]))
        .map(|n| format!("api{n}.service{}.example.com:443", index % 50))
        .collect();
    let secrets = (0..rng.weighted(&[40, 35, 25]))
        .map(|n| format!("SECRET_{n}"))
        .collect();
    Capabilities {
        network,
        secrets,
        storage: *rng.pick(&[
            StorageAccess::None,
            StorageAccess::Read,
            StorageAccess::ReadWrite,
        ]),
        schedules: rng.percent(15),
        webhooks: rng.percent(10),
        exclusive,
    }
}

/// Adds a dependency on a plugin with no version for `host_major`: no host can install it.
fn add_host_conflict(
    rng: &mut Choices,
    known: &[Vec<Known>],
    index: usize,
    host_major: u64,
    dependencies: &mut BTreeMap<String, PluginDependency>,
) -> Option<String> {
    let start = rng.below(index);
    let other = (0..index)
        .map(|offset| &known[(start + offset) % index])
        .find(|versions| {
            versions.iter().all(|k| !k.fits(host_major))
                && !dependencies.contains_key(&versions[0].name)
        })?;
    let newest = other.last()?;
    dependencies.insert(
        newest.name.clone(),
        PluginDependency::new(&format!("^{}.{}", newest.major, newest.minor)),
    );
    Some(format!(
        "it needs host API {host_major}.x, but `{}` ^{}.{} needs host API {}.x",
        newest.name, newest.major, newest.minor, newest.host_majors.0
    ))
}

/// Adds dependencies on two plugins that hold the same exclusive resource.
fn add_exclusive_conflict(
    known: &[Vec<Known>],
    index: usize,
    host_major: u64,
    dependencies: &mut BTreeMap<String, PluginDependency>,
) -> Option<String> {
    let mut holders: BTreeMap<&str, Vec<&Known>> = BTreeMap::new();
    for versions in &known[..index] {
        if let Some(version) = versions.iter().rev().find(|k| k.fits(host_major))
            && let Some(resource) = &version.exclusive
            && !dependencies.contains_key(&version.name)
        {
            holders.entry(resource).or_default().push(version);
        }
    }
    let (resource, pair) = holders.into_iter().find(|(_, list)| list.len() >= 2)?;
    for holder in &pair[..2] {
        dependencies.insert(
            holder.name.clone(),
            PluginDependency::new(&format!("^{}.{}", holder.major, holder.minor)),
        );
    }
    Some(format!(
        "`{}` and `{}` both hold the exclusive resource `{resource}`",
        pair[0].name, pair[1].name
    ))
}

//! [`Ecosystem`]: the packages an install benchmark publishes, generated from a seed or read
//! from a directory of publish bodies, with the dependency graph the other checks need.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use semver::{Version, VersionReq};

use crate::BenchError;
use crate::install_bench::satisfy::{Graph, Node};

/// The host API package's name.
pub const HOST_API: &str = "host-api";

/// One version to publish.
#[derive(Debug, Clone)]
pub struct Release {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: Version,
    /// Normal and build dependencies that are not optional: `(package, requirement)`.
    pub deps: Vec<(String, VersionReq)>,
    /// The metadata's `links` (a plugin's exclusive resource).
    pub links: Option<String>,
    /// The publish body, as cargo frames it.
    pub body: Vec<u8>,
}

/// Every release, in publish order (dependencies first), and the ones to yank after.
#[derive(Debug, Clone, Default)]
pub struct Ecosystem {
    /// The releases.
    pub releases: Vec<Release>,
    /// `(name, version)` of each release to yank once everything is published.
    pub yanked: Vec<(String, Version)>,
}

/// What `generate` makes: how many libraries and plugins.
const LIBS: usize = 12;
const PLUGINS: usize = 40;
/// The host API requirements plugins are given.
const HOST_REQS: [&str; 7] = ["^1", "^1.1", "^2", ">=1, <3", "^3", ">=2", "^1"];

impl Ecosystem {
    /// A seeded ecosystem: `host-api` 1.0.0, 1.1.0, 2.0.0 and 3.0.0; 12 libraries with one or
    /// two majors of up to three minors each, depending on lower-numbered libraries; 40
    /// plugins with one to four versions, each requiring a host API range and up to three
    /// libraries (some pinned with `=`, so plugins can conflict).
    pub fn generate(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Self::default();
        for version in ["1.0.0", "1.1.0", "2.0.0", "3.0.0"] {
            out.push(HOST_API, version, &[]);
        }
        let mut lib_versions: Vec<Vec<Version>> = Vec::new();
        for lib in 0..LIBS {
            let mut versions = Vec::new();
            for major in 1..=rng.random_range(1..=2u64) {
                for minor in 0..rng.random_range(1..=3u64) {
                    let version = Version::new(major, minor, 0);
                    let deps = random_deps(&mut rng, &lib_versions[..lib], 2);
                    out.push(&format!("lib-{lib:02}"), &version.to_string(), &deps);
                    versions.push(version);
                }
            }
            lib_versions.push(versions);
        }
        for plugin in 0..PLUGINS {
            let count = rng.random_range(1..=4u64);
            for n in 0..count {
                let version = Version::new(1 + n / 2, n % 2, 0);
                let host = HOST_REQS[rng.random_range(0..HOST_REQS.len())];
                let mut deps = vec![(HOST_API.to_owned(), host.to_owned())];
                deps.extend(random_deps(&mut rng, &lib_versions, 3));
                out.push(&format!("plugin-{plugin:02}"), &version.to_string(), &deps);
            }
        }
        out
    }

    fn push(&mut self, name: &str, version: &str, deps: &[(String, String)]) {
        let pairs: Vec<(&str, &str)> = deps.iter().map(|(n, r)| (n.as_str(), r.as_str())).collect();
        self.releases.push(Release {
            name: name.to_owned(),
            version: version.parse().expect("generated versions parse"),
            deps: deps
                .iter()
                .map(|(n, r)| (n.clone(), r.parse().expect("generated requirements parse")))
                .collect(),
            links: None,
            body: wharf_test_support::publish_body_with_deps(name, version, &pairs),
        });
    }

    /// Reads every publish body of `dir` (`*.publish` or `*.body` files, in file-name order;
    /// from `dir/publish/` when there is one, as `gen-ecosystem` writes it) and the releases
    /// to yank listed in `dir/yanked.txt` (`NAME VERSION` per line), if any.
    pub fn from_dir(dir: &Path) -> Result<Self, BenchError> {
        let bodies = if dir.join("publish").is_dir() {
            dir.join("publish")
        } else {
            dir.to_owned()
        };
        let io = |source| BenchError::Io {
            path: bodies.clone(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(&bodies)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "publish" || ext == "body")
            })
            .collect();
        paths.sort();
        let mut out = Self::default();
        for path in paths {
            let body = std::fs::read(&path).map_err(|source| BenchError::Io {
                path: path.clone(),
                source,
            })?;
            let release = release_from_body(body).map_err(|reason| BenchError::Ecosystem {
                path: path.clone(),
                reason,
            })?;
            out.releases.push(release);
        }
        let yanked = dir.join("yanked.txt");
        if let Ok(text) = std::fs::read_to_string(&yanked) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let parsed = line.split_once(' ').and_then(|(name, version)| {
                    Some((name.to_owned(), version.trim().parse().ok()?))
                });
                let Some(pair) = parsed else {
                    return Err(BenchError::Ecosystem {
                        path: yanked,
                        reason: format!("`{line}` is not `NAME VERSION`"),
                    });
                };
                out.yanked.push(pair);
            }
        }
        Ok(out)
    }

    /// Writes each release as `NNNNN-name-version.publish` into `dir`.
    pub fn write_dir(&self, dir: &Path) -> Result<(), BenchError> {
        std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for (n, release) in self.releases.iter().enumerate() {
            let path = dir.join(format!(
                "{n:05}-{}-{}.publish",
                release.name, release.version
            ));
            std::fs::write(&path, &release.body)
                .map_err(|source| BenchError::Io { path, source })?;
        }
        Ok(())
    }

    /// Packages that depend on the host API directly, sorted.
    pub fn plugins(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .releases
            .iter()
            .filter(|r| r.deps.iter().any(|(dep, _)| dep == HOST_API))
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The published host API versions; when the host API is not published, every version
    /// the plugins' generator knows (1.0–1.9, 2.0–2.6, 3.0–3.2, [`crate::HOST_MINORS`]).
    pub fn host_versions(&self) -> Vec<Version> {
        let published: Vec<Version> = self
            .releases
            .iter()
            .filter(|r| r.name == HOST_API)
            .map(|r| r.version.clone())
            .collect();
        if !published.is_empty() {
            return published;
        }
        (1u64..)
            .zip(crate::HOST_MINORS)
            .flat_map(|(major, newest)| {
                (0..=newest).map(move |minor| Version::new(major, minor, 0))
            })
            .collect()
    }

    /// Every package's versions with their dependencies (yanked ones left out: they are
    /// not installed without a lock).
    pub fn graph(&self) -> Graph {
        let mut graph = Graph::new();
        for release in &self.releases {
            if self
                .yanked
                .iter()
                .any(|(name, version)| *name == release.name && *version == release.version)
            {
                continue;
            }
            graph.entry(release.name.clone()).or_default().push(Node {
                version: release.version.clone(),
                deps: release.deps.clone(),
                links: release.links.clone(),
            });
        }
        graph
    }
}

/// Up to `max` dependencies on the libraries in `libs` (`libs[i]` the versions of `lib-i`):
/// a caret on a major (`^2`), on a minor (`^1.1`) or, one time in six, a pin (`=1.1.0`).
fn random_deps(rng: &mut StdRng, libs: &[Vec<Version>], max: usize) -> Vec<(String, String)> {
    if libs.is_empty() {
        return Vec::new();
    }
    let mut deps: Vec<(String, String)> = Vec::new();
    for _ in 0..rng.random_range(0..=max) {
        let lib = rng.random_range(0..libs.len());
        let name = format!("lib-{lib:02}");
        if deps.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let version = &libs[lib][rng.random_range(0..libs[lib].len())];
        let req = match rng.random_range(0..6) {
            0 => format!("={version}"),
            1 | 2 => format!("^{}.{}", version.major, version.minor),
            _ => format!("^{}", version.major),
        };
        deps.push((name, req));
    }
    deps
}

/// The release a publish body describes (its metadata's name, version and non-optional
/// normal and build dependencies).
fn release_from_body(body: Vec<u8>) -> Result<Release, String> {
    let length = body
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("shorter than a publish frame")?;
    let json = body
        .get(4..4 + length)
        .ok_or("the metadata length is past the end")?;
    let metadata: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let text = |value: &serde_json::Value, key: &str| {
        value[key]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("no `{key}` in the metadata"))
    };
    let mut deps = Vec::new();
    for dep in metadata["deps"].as_array().into_iter().flatten() {
        if dep["optional"].as_bool() == Some(true) || dep["kind"].as_str() == Some("dev") {
            continue;
        }
        let req = text(dep, "version_req")?;
        deps.push((
            text(dep, "name")?,
            req.parse().map_err(|e| format!("`{req}`: {e}"))?,
        ));
    }
    let version = text(&metadata, "vers")?;
    Ok(Release {
        name: text(&metadata, "name")?,
        version: version.parse().map_err(|e| format!("`{version}`: {e}"))?,
        deps,
        links: metadata["links"].as_str().map(str::to_owned),
        body,
    })
}

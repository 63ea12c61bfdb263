//! Small but complete package versions, and cargo's publish frame around them.
//!
//! A [`SyntheticCrate`] turns into exactly what `cargo publish` uploads: the metadata JSON
//! (cargo's `NewCrate`, every field present, optional ones as `null`), and a `.crate`
//! tarball holding `name-version/Cargo.toml` (normalised, as `cargo package` writes it),
//! `Cargo.toml.orig`, `README.md` and `src/lib.rs`.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::json;
use toml::{Table, Value};
use wharf_index_format::encode_publish_frame;
use wharf_test_support::{CrateBuilder, dependency_json, metadata_json};

use crate::BenchError;

/// One dependency of a [`SyntheticCrate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticDependency {
    /// The package depended on (in this registry).
    pub name: String,
    /// The version requirement, as cargo sends it (`^1.0`).
    pub req: String,
    /// `normal`, `build` or `dev`.
    pub kind: &'static str,
    /// Whether the dependency is optional.
    pub optional: bool,
    /// Whether its default features are on.
    pub default_features: bool,
    /// Features enabled on it.
    pub features: Vec<String>,
    /// A `cfg(...)` platform restriction.
    pub target: Option<String>,
}

impl SyntheticDependency {
    /// A plain normal dependency on `name` matching `req`.
    pub fn normal(name: impl Into<String>, req: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            req: req.into(),
            kind: "normal",
            optional: false,
            default_features: true,
            features: Vec::new(),
            target: None,
        }
    }
}

/// A package version to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticCrate {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Dependencies of every kind.
    pub deps: Vec<SyntheticDependency>,
    /// The `[features]` table.
    pub features: BTreeMap<String, Vec<String>>,
}

impl SyntheticCrate {
    /// A package without dependencies or features.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            deps: Vec::new(),
            features: BTreeMap::new(),
        }
    }

    fn description(&self) -> String {
        format!(
            "Synthetic package `{}` for Wharf load tests: a small library with a few dependencies",
            self.name
        )
    }

    /// Cargo's publish metadata (`NewCrate`) with every field cargo sends: the shared shape
    /// (`wharf_test_support::metadata_json`) with this package's values.
    pub fn metadata_json(&self) -> serde_json::Value {
        let deps: Vec<serde_json::Value> = self
            .deps
            .iter()
            .map(|d| {
                let mut dep = dependency_json(&d.name, &d.req, d.kind);
                dep["optional"] = json!(d.optional);
                dep["default_features"] = json!(d.default_features);
                dep["features"] = json!(d.features);
                dep["target"] = json!(d.target);
                dep
            })
            .collect();
        let mut metadata = metadata_json(&self.name, &self.version);
        for (field, value) in [
            ("deps", json!(deps)),
            ("features", json!(self.features)),
            ("authors", json!(["Wharf Bench <bench@example.invalid>"])),
            ("description", json!(self.description())),
            ("readme", json!(self.readme())),
            ("readme_file", json!("README.md")),
            ("keywords", json!(["bench", "synthetic"])),
            ("license", json!("MIT OR Apache-2.0")),
            (
                "repository",
                json!(format!("https://example.invalid/wharf-bench/{}", self.name)),
            ),
            ("rust_version", json!("1.70")),
        ] {
            metadata[field] = value;
        }
        metadata
    }

    /// The `Cargo.toml` a user would write (what `cargo package` keeps as `Cargo.toml.orig`).
    fn manifest_table(&self) -> Table {
        let mut package = Table::new();
        package.insert("name".into(), self.name.clone().into());
        package.insert("version".into(), self.version.clone().into());
        package.insert("edition".into(), "2021".into());
        package.insert("rust-version".into(), "1.70".into());
        package.insert(
            "authors".into(),
            Value::Array(vec!["Wharf Bench <bench@example.invalid>".into()]),
        );
        package.insert("description".into(), self.description().into());
        package.insert("readme".into(), "README.md".into());
        package.insert(
            "keywords".into(),
            Value::Array(vec!["bench".into(), "synthetic".into()]),
        );
        package.insert("license".into(), "MIT OR Apache-2.0".into());
        package.insert(
            "repository".into(),
            format!("https://example.invalid/wharf-bench/{}", self.name).into(),
        );
        let mut root = Table::new();
        root.insert("package".into(), Value::Table(package));
        if !self.features.is_empty() {
            let features = self
                .features
                .iter()
                .map(|(k, v)| {
                    let values = v.iter().map(|s| Value::from(s.as_str())).collect();
                    (k.clone(), Value::Array(values))
                })
                .collect();
            root.insert("features".into(), Value::Table(features));
        }
        for dep in &self.deps {
            let section = match dep.kind {
                "dev" => "dev-dependencies",
                "build" => "build-dependencies",
                _ => "dependencies",
            };
            let mut spec = Table::new();
            spec.insert("version".into(), dep.req.clone().into());
            if dep.optional {
                spec.insert("optional".into(), true.into());
            }
            if !dep.default_features {
                spec.insert("default-features".into(), false.into());
            }
            if !dep.features.is_empty() {
                let features = dep.features.iter().map(|s| Value::from(s.as_str()));
                spec.insert("features".into(), Value::Array(features.collect()));
            }
            let table = match &dep.target {
                Some(target) => table_at(&mut root, &["target", target, section]),
                None => table_at(&mut root, &[section]),
            };
            table.insert(dep.name.clone(), Value::Table(spec));
        }
        root
    }

    /// The README, also sent as the metadata's `readme`.
    fn readme(&self) -> String {
        format!(
            "# {name}\n\nA synthetic package published by Wharf's load tools.\n\n\
             ```toml\n[dependencies]\n{name} = \"{version}\"\n```\n",
            name = self.name,
            version = self.version
        )
    }

    fn lib_rs(&self) -> String {
        let ident = self.name.replace('-', "_");
        format!(
            "//! `{name}` {version}: a synthetic library.\n\n\
             /// The package name.\npub const NAME: &str = \"{name}\";\n\
             /// The package version.\npub const VERSION: &str = \"{version}\";\n\n\
             /// Adds two numbers, checking for overflow.\n\
             pub fn {ident}_add(a: u64, b: u64) -> Option<u64> {{\n    a.checked_add(b)\n}}\n\n\
             #[cfg(test)]\nmod tests {{\n    #[test]\n    fn adds() {{\n        \
             assert_eq!(super::{ident}_add(2, 3), Some(5));\n    }}\n}}\n",
            name = self.name,
            version = self.version,
        )
    }

    /// The `.crate` file: a gzipped tarball laid out like `cargo package` output.
    pub fn tarball(&self) -> Result<Vec<u8>, BenchError> {
        let package = format!("{}-{}", self.name, self.version);
        let manifest_error = |source| BenchError::Manifest {
            package: package.clone(),
            source,
        };
        let original = toml::to_string(&self.manifest_table()).map_err(manifest_error)?;
        let normalised = format!(
            "# THIS FILE IS AUTOMATICALLY GENERATED BY CARGO\n#\n\
             # When uploading crates to the registry Cargo will automatically\n\
             # \"normalize\" Cargo.toml files for maximal compatibility.\n\n{original}\n\
             [lib]\nname = \"{}\"\npath = \"src/lib.rs\"\n",
            self.name.replace('-', "_")
        );
        CrateBuilder::empty(&self.name, &self.version)
            .mtime(1_700_000_000)
            .file("Cargo.toml", &normalised)
            .file("Cargo.toml.orig", &original)
            .file("README.md", &self.readme())
            .file("src/lib.rs", &self.lib_rs())
            .try_build()
            .map_err(|source| BenchError::Tarball { package, source })
    }

    /// The complete `PUT /api/v1/crates/new` body, framed by `wharf-index-format`'s encoder.
    pub fn publish_body(&self) -> Result<Bytes, BenchError> {
        let json = self.metadata_json().to_string();
        let krate = self.tarball()?;
        encode_publish_frame(json.as_bytes(), &krate)
            .map(Bytes::from)
            .map_err(|source| BenchError::Frame {
                package: format!("{}-{}", self.name, self.version),
                source,
            })
    }
}

/// The table at a dotted key path, created on the way as needed.
fn table_at<'a>(root: &'a mut Table, keys: &[&str]) -> &'a mut Table {
    let mut table = root;
    for key in keys {
        let entry = table
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        table = entry
            .as_table_mut()
            .expect("the entry was just made a table");
    }
    table
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample() -> SyntheticCrate {
        let mut krate = SyntheticCrate::new("demo-pkg", "1.2.0");
        krate
            .deps
            .push(SyntheticDependency::normal("base-a", "^1.0"));
        krate.deps.push(SyntheticDependency {
            optional: true,
            ..SyntheticDependency::normal("base-b", "^1.0")
        });
        krate.deps.push(SyntheticDependency {
            kind: "dev",
            ..SyntheticDependency::normal("base-c", "^1.0")
        });
        krate.deps.push(SyntheticDependency {
            target: Some("cfg(windows)".to_owned()),
            ..SyntheticDependency::normal("base-d", "^1.0")
        });
        krate
            .features
            .insert("extra".to_owned(), vec!["dep:base-b".to_owned()]);
        krate
    }

    fn split_frame(body: &[u8]) -> (&[u8], &[u8]) {
        let frame = wharf_index_format::parse_publish_frame(
            body,
            &wharf_index_format::PublishLimits::default(),
        )
        .expect("a well-formed frame");
        (frame.json, frame.crate_bytes)
    }

    fn tar_entries(krate: &[u8]) -> BTreeMap<String, String> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(krate));
        archive
            .entries()
            .expect("a readable tarball")
            .map(|entry| {
                let mut entry = entry.expect("a readable entry");
                let path = entry.path().expect("a path").display().to_string();
                let mut text = String::new();
                entry.read_to_string(&mut text).expect("UTF-8 contents");
                (path, text)
            })
            .collect()
    }

    #[test]
    fn the_frame_holds_the_metadata_then_the_crate() {
        let krate = sample();
        let body = krate.publish_body().expect("a body");
        let (json, tarball) = split_frame(&body);
        let metadata: serde_json::Value = serde_json::from_slice(json).expect("JSON metadata");
        assert_eq!(metadata, krate.metadata_json());
        assert_eq!(tarball, krate.tarball().expect("a tarball").as_slice());
    }

    #[test]
    fn metadata_has_every_field_cargo_sends() {
        let metadata = sample().metadata_json();
        let object = metadata.as_object().expect("an object");
        for field in [
            "name",
            "vers",
            "deps",
            "features",
            "authors",
            "description",
            "documentation",
            "homepage",
            "readme",
            "readme_file",
            "keywords",
            "categories",
            "license",
            "license_file",
            "repository",
            "badges",
            "links",
            "rust_version",
        ] {
            assert!(object.contains_key(field), "missing `{field}`");
        }
        let dep = &metadata["deps"][3];
        for field in [
            "optional",
            "default_features",
            "name",
            "features",
            "version_req",
            "target",
            "kind",
        ] {
            assert!(
                dep.as_object().expect("object").contains_key(field),
                "dependency misses `{field}`"
            );
        }
        assert_eq!(dep["target"], "cfg(windows)");
        assert_eq!(metadata["deps"][2]["kind"], "dev");
    }

    #[test]
    fn the_tarball_is_laid_out_like_cargo_package() {
        let krate = sample();
        let entries = tar_entries(&krate.tarball().expect("a tarball"));
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "demo-pkg-1.2.0/Cargo.toml",
                "demo-pkg-1.2.0/Cargo.toml.orig",
                "demo-pkg-1.2.0/README.md",
                "demo-pkg-1.2.0/src/lib.rs"
            ]
        );
        let manifest: Table =
            toml::from_str(&entries["demo-pkg-1.2.0/Cargo.toml"]).expect("TOML manifest");
        assert_eq!(manifest["package"]["name"].as_str(), Some("demo-pkg"));
        assert_eq!(manifest["package"]["version"].as_str(), Some("1.2.0"));
        assert_eq!(
            manifest["dependencies"]["base-b"]["optional"].as_bool(),
            Some(true)
        );
        assert_eq!(
            manifest["dev-dependencies"]["base-c"]["version"].as_str(),
            Some("^1.0")
        );
        assert_eq!(
            manifest["target"]["cfg(windows)"]["dependencies"]["base-d"]["version"].as_str(),
            Some("^1.0")
        );
        assert_eq!(
            manifest["features"]["extra"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn distinct_versions_give_distinct_crates() {
        let one = SyntheticCrate::new("same", "1.0.0")
            .tarball()
            .expect("tarball");
        let two = SyntheticCrate::new("same", "1.0.1")
            .tarball()
            .expect("tarball");
        assert_ne!(one, two);
    }
}

//! What a plugin's publish metadata says (derived from `plugin.toml`), what the registry
//! keeps beside the index line ([`PluginInfo`]), and the check that an upload's metadata
//! agrees with the manifest in its tarball.

use serde::{Deserialize, Serialize};

use super::{Capabilities, HOST_API_PACKAGE, PluginKind, PluginManifest, TemplateParameter};
use crate::{FormatError, NewCrate, NewCrateDependency};

/// The plugin facts a registry stores and shows (not part of the index line): the kind,
/// the capabilities, the entry point and the host API range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// `plugin` or `template`.
    pub kind: PluginKind,
    /// The capabilities it asks for.
    pub capabilities: Capabilities,
    /// The entry point, relative to the package root.
    pub entry: String,
    /// The `host-api` requirement.
    pub host_api: String,
    /// The oldest host version it runs on, when stated.
    pub min_host_version: Option<String>,
    /// A solution template's lineage and parameters (absent for a plugin, and for a
    /// template without a `[template]` table or stored before templates had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateInfo>,
}

/// What a registry shows of a template's `[template]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// `NAME@VERSION` of the template this one was forked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<String>,
    /// The parameters, as declared.
    #[serde(default)]
    pub parameters: Vec<TemplateParameter>,
}

impl PluginManifest {
    /// The publish metadata for this manifest, as `wharf plugin publish` sends it: every
    /// dependency is `kind: "normal"` from this registry, `links` is the exclusive
    /// capability, and `readme` the README's text when given.
    pub fn to_new_crate(&self, readme: Option<String>) -> NewCrate {
        let plugin = &self.plugin;
        NewCrate {
            name: plugin.name.clone(),
            vers: plugin.version.clone(),
            deps: self
                .dependencies
                .iter()
                .map(|(name, dep)| NewCrateDependency {
                    optional: dep.optional,
                    default_features: dep.default_features,
                    name: name.clone(),
                    features: dep.features.clone(),
                    version_req: dep.version.clone(),
                    target: None,
                    kind: "normal".to_owned(),
                    registry: None,
                    explicit_name_in_toml: None,
                    artifact: None,
                    bindep_target: None,
                    lib: false,
                })
                .collect(),
            features: self.features.clone(),
            authors: plugin.authors.clone(),
            description: Some(plugin.description.clone()),
            documentation: None,
            homepage: None,
            readme,
            readme_file: plugin.readme.clone(),
            keywords: plugin.keywords.clone(),
            categories: plugin.categories.clone(),
            license: Some(plugin.license.clone()),
            license_file: None,
            repository: plugin.repository.clone(),
            badges: std::collections::BTreeMap::new(),
            links: self.capabilities.exclusive.clone(),
            rust_version: None,
        }
    }

    /// The facts a registry keeps for this plugin.
    pub fn info(&self) -> PluginInfo {
        PluginInfo {
            kind: self.plugin.kind,
            capabilities: self.capabilities.clone(),
            entry: self.plugin.entry.clone(),
            host_api: self
                .dependencies
                .get(HOST_API_PACKAGE)
                .map(|dep| dep.version.clone())
                .unwrap_or_default(),
            min_host_version: self.plugin.min_host_version.clone(),
            template: self.template.as_ref().map(|spec| TemplateInfo {
                forked_from: spec.forked_from.clone(),
                parameters: spec.parameters.clone(),
            }),
        }
    }
}

/// Refuses metadata that says anything else than the manifest would: name, version,
/// dependencies, features, `links` and the descriptive fields, each compared as the
/// registry stores it ([`FormatError::PluginManifestMismatch`] naming the first field that
/// differs). The README text is not compared.
pub(crate) fn check_metadata_agrees(
    manifest: &PluginManifest,
    sent: &NewCrate,
) -> Result<(), FormatError> {
    let expected = manifest.to_new_crate(None);
    let mut sent_deps = sent.deps.clone();
    sent_deps.sort_by(|a, b| a.name.cmp(&b.name));
    let pairs: [(&str, String, String); 12] = [
        ("name", expected.name.clone(), sent.name.clone()),
        ("vers", expected.vers.clone(), sent.vers.clone()),
        ("deps", show(&expected.deps), show(&sent_deps)),
        ("features", show(&expected.features), show(&sent.features)),
        ("links", show(&expected.links), show(&sent.links)),
        (
            "description",
            show(&expected.description),
            show(&sent.description),
        ),
        ("license", show(&expected.license), show(&sent.license)),
        (
            "license_file",
            show(&expected.license_file),
            show(&sent.license_file),
        ),
        ("keywords", show(&expected.keywords), show(&sent.keywords)),
        (
            "categories",
            show(&expected.categories),
            show(&sent.categories),
        ),
        (
            "repository",
            show(&expected.repository),
            show(&sent.repository),
        ),
        ("authors", show(&expected.authors), show(&sent.authors)),
    ];
    for (field, manifest, metadata) in pairs {
        if manifest != metadata {
            return Err(FormatError::PluginManifestMismatch {
                field: field.to_owned(),
                manifest,
                metadata,
            });
        }
    }
    Ok(())
}

/// Compact JSON text of a metadata value, for comparing and quoting in messages.
fn show<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("metadata values always serialise")
}

//! The rules a `plugin.toml` must follow beyond its shape. Every failure is
//! [`FormatError::InvalidPluginManifest`] naming the key.

use super::{PLUGIN_MANIFEST_FILE, PluginKind, PluginManifest};
use crate::publish::{check_keyword, check_license, validate_version};
use crate::{FormatError, HOST_API_PACKAGE, PackageMetadata, PackageName, PublishLimits};

impl PluginManifest {
    /// Checks every rule of the format: the name, version, license, keywords, categories,
    /// entry path, each dependency and feature (with the registry's publish rules), the
    /// `host-api` requirement and `min-host-version`, and the capabilities. `has_file` says
    /// whether a path relative to the package root is a regular file of the package; the
    /// entry point and the README must be.
    pub fn check(
        &self,
        limits: &PublishLimits,
        has_file: impl Fn(&str) -> bool,
    ) -> Result<(), FormatError> {
        let plugin = &self.plugin;
        PackageName::new(&plugin.name).map_err(|e| {
            FormatError::plugin(
                "[plugin] name",
                format!("`{}`: {}", plugin.name, reason(&e)),
            )
        })?;
        validate_version(&plugin.version).map_err(|e| {
            FormatError::plugin(
                "[plugin] version",
                format!("`{}`: {}", plugin.version, e.reason()),
            )
        })?;
        if plugin.description.trim().is_empty() {
            return Err(FormatError::plugin(
                "[plugin] description",
                "it is empty; say in one sentence what the plugin does",
            ));
        }
        check_license(&plugin.license)
            .map_err(|e| FormatError::plugin("[plugin] license", e.reason()))?;
        for keyword in &plugin.keywords {
            check_keyword(keyword)
                .map_err(|e| FormatError::plugin("[plugin] keywords", e.reason()))?;
        }
        for (field, values, limit) in [
            ("[plugin] keywords", &plugin.keywords, limits.max_keywords),
            (
                "[plugin] categories",
                &plugin.categories,
                limits.max_categories,
            ),
        ] {
            if values.len() > limit {
                return Err(FormatError::plugin(
                    field,
                    format!("{} given; at most {limit} are allowed", values.len()),
                ));
            }
        }
        check_package_file("[plugin] entry", &plugin.entry, &has_file)?;
        if let Some(readme) = &plugin.readme {
            check_package_file("[plugin] readme", readme, &has_file)?;
        }
        self.check_host_api()?;
        self.capabilities.check()?;
        self.check_template_table()?;
        // The registry's own dependency and feature rules, reported under plugin.toml's keys.
        let krate = self.to_new_crate(None);
        krate
            .to_index_entry(&"0".repeat(64), limits)
            .map_err(|e| match &e {
                FormatError::InvalidDependency { name, reason } => {
                    FormatError::plugin(&format!("[dependencies] {name}"), reason.clone())
                }
                FormatError::InvalidFeature { feature, reason } => {
                    FormatError::plugin(&format!("[features] {feature}"), reason.clone())
                }
                FormatError::PolicyViolation { field, reason } if field == "deps" => {
                    FormatError::plugin("[dependencies]", reason.clone())
                }
                FormatError::PolicyViolation { reason, .. } => {
                    FormatError::plugin("[features]", reason.clone())
                }
                _ => FormatError::plugin("(document)", e.reason()),
            })?;
        PackageMetadata::from_new_crate(&krate, limits)
            .map_err(|e| FormatError::plugin("[plugin]", e.reason()))?;
        Ok(())
    }

    /// `[template]` belongs to a template only, and its spec must hold.
    fn check_template_table(&self) -> Result<(), FormatError> {
        match (&self.template, self.plugin.kind) {
            (Some(_), PluginKind::Plugin) => Err(FormatError::plugin(
                "[template]",
                "only a package with `kind = \"template\"` has a [template] table; remove it or change the kind",
            )),
            (Some(spec), PluginKind::Template) => spec.check(),
            (None, _) => Ok(()),
        }
    }

    /// `host-api` must be a plain, non-optional dependency, and `min-host-version` (when
    /// given) a version it allows.
    fn check_host_api(&self) -> Result<(), FormatError> {
        let field = format!("[dependencies] {HOST_API_PACKAGE}");
        let Some(host) = self.dependencies.get(HOST_API_PACKAGE) else {
            return Err(FormatError::plugin(
                &field,
                format!(
                    "it is missing; every plugin states the host API versions it works with, e.g. `{HOST_API_PACKAGE} = \"^1.4\"`"
                ),
            ));
        };
        if host.optional {
            return Err(FormatError::plugin(
                &field,
                "the host API cannot be optional",
            ));
        }
        let Some(min) = &self.plugin.min_host_version else {
            return Ok(());
        };
        let min_version = semver::Version::parse(min).map_err(|e| {
            FormatError::plugin("[plugin] min-host-version", format!("`{min}`: {e}"))
        })?;
        let req = semver::VersionReq::parse(&host.version).map_err(|e| {
            FormatError::plugin(&field, format!("requirement `{}`: {e}", host.version))
        })?;
        if !req.matches(&min_version) {
            return Err(FormatError::plugin(
                "[plugin] min-host-version",
                format!(
                    "`{min}` is not allowed by the `{HOST_API_PACKAGE}` requirement `{}`; raise it or widen the requirement",
                    host.version
                ),
            ));
        }
        Ok(())
    }
}

/// The reason of a name error.
fn reason(error: &FormatError) -> String {
    match error {
        FormatError::ReservedName { .. } => "the name is reserved".to_owned(),
        other => other.reason(),
    }
}

/// A path relative to the package root, with `/` separators, naming a file the package has.
fn check_package_file(
    field: &str,
    path: &str,
    has_file: &impl Fn(&str) -> bool,
) -> Result<(), FormatError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        return Err(FormatError::plugin(
            field,
            format!("`{path}` is not a relative path inside the package (use `/`, no `..`)"),
        ));
    }
    if path == PLUGIN_MANIFEST_FILE || !has_file(path) {
        return Err(FormatError::plugin(
            field,
            format!("`{path}` is not a file of the package; add it or fix the path"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[plugin]
name = "approval-step"
version = "2.0.0"
kind = "plugin"
description = "Pauses a flow until someone approves it"
license = "Apache-2.0"
entry = "step.wat"
keywords = ["approval"]
min-host-version = "2.1.0"

[dependencies]
host-api = ">=2.1, <3"
notifications = { version = "^2", features = ["email"] }

[features]
default = []

[capabilities]
secrets = ["APPROVER_KEY"]
"#;

    fn check(text: &str) -> Result<(), FormatError> {
        PluginManifest::parse(text)?.check(&PublishLimits::default(), |path| {
            ["step.wat", "README.md"].contains(&path)
        })
    }

    #[test]
    fn a_good_manifest_passes() {
        check(GOOD).unwrap();
    }

    #[test]
    fn only_a_template_has_a_template_table() {
        let err = check(&format!("{GOOD}\n[template]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "plugin.toml: [template]: only a package with `kind = \"template\"` has a [template] table"
            ),
            "{err}"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        for (from, to, message) in [
            (
                "name = \"approval-step\"",
                "name = \"approval step\"",
                "plugin.toml: [plugin] name: `approval step`: the character ' ' is not allowed",
            ),
            (
                "name = \"approval-step\"",
                "name = \"std\"",
                "plugin.toml: [plugin] name: `std`: the name is reserved",
            ),
            (
                "version = \"2.0.0\"",
                "version = \"2.0\"",
                "plugin.toml: [plugin] version: `2.0`: unexpected end of input while parsing minor version number",
            ),
            (
                "version = \"2.0.0\"",
                "version = \"02.0.0\"",
                "plugin.toml: [plugin] version: `02.0.0`: invalid leading zero",
            ),
            (
                "license = \"Apache-2.0\"",
                "license = \"Apache2\"",
                "plugin.toml: [plugin] license: `Apache2` is not an SPDX license expression",
            ),
            (
                "description = \"Pauses a flow until someone approves it\"",
                "description = \" \"",
                "plugin.toml: [plugin] description: it is empty",
            ),
            (
                "entry = \"step.wat\"",
                "entry = \"main.wat\"",
                "plugin.toml: [plugin] entry: `main.wat` is not a file of the package",
            ),
            (
                "entry = \"step.wat\"",
                "entry = \"../step.wat\"",
                "plugin.toml: [plugin] entry: `../step.wat` is not a relative path",
            ),
            (
                "entry = \"step.wat\"",
                "entry = \"step.wat\"\nreadme = \"docs/README.md\"",
                "plugin.toml: [plugin] readme: `docs/README.md` is not a file",
            ),
            (
                "keywords = [\"approval\"]",
                "keywords = [\"two words\"]",
                "plugin.toml: [plugin] keywords: `two words` is not a keyword",
            ),
            (
                "keywords = [\"approval\"]",
                "keywords = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]",
                "plugin.toml: [plugin] keywords: 6 given; at most 5",
            ),
            (
                "min-host-version = \"2.1.0\"",
                "min-host-version = \"1.9.0\"",
                "plugin.toml: [plugin] min-host-version: `1.9.0` is not allowed by the `host-api` requirement `>=2.1, <3`",
            ),
            (
                "host-api = \">=2.1, <3\"\n",
                "",
                "plugin.toml: [dependencies] host-api: it is missing",
            ),
            (
                "host-api = \">=2.1, <3\"",
                "host-api = { version = \"^2\", optional = true }",
                "plugin.toml: [dependencies] host-api: the host API cannot be optional",
            ),
            (
                "version = \"^2\", features",
                "version = \"two\", features",
                "plugin.toml: [dependencies] notifications: requirement `two`",
            ),
            (
                "version = \"^2\", features",
                "version = \"*\", features",
                "plugin.toml: [dependencies] notifications: wildcard requirement `*` is not allowed",
            ),
            (
                "default = []",
                "default = [\"missing\"]",
                "plugin.toml: [features] default: `missing` is neither a feature nor an optional dependency",
            ),
            (
                "secrets = [\"APPROVER_KEY\"]",
                "network = [\"*.example.com:99999\"]",
                "plugin.toml: [capabilities] network: \"*.example.com:99999\" is not a host[:port] (port 99999 is above 65535)",
            ),
        ] {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from} not found");
            let err = check(&text).unwrap_err().to_string();
            assert!(
                err.starts_with(message),
                "{err}\nshould start with\n{message}"
            );
        }
    }
}

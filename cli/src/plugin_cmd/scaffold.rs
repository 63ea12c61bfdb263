//! `wharf plugin new`: a plugin folder that passes `wharf plugin check` as written.

use std::path::Path;

use anyhow::{Context as _, bail};
use wharf_index_format::{HOST_API_PACKAGE, PluginKind};

/// The host API range a new plugin starts with.
const NEW_HOST_API: &str = "^2.0";

/// Writes `plugin.toml`, `README.md` and the entry file into `dir`, which must not exist or
/// be empty. Returns the files written.
pub(crate) fn scaffold(name: &str, kind: PluginKind, dir: &Path) -> anyhow::Result<Vec<String>> {
    wharf_index_format::PackageName::new(name)
        .map_err(|e| anyhow::anyhow!("cannot name a plugin `{name}`: {e}"))?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read `{}`", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "`{}` already exists and is not empty; choose another folder with `--dir`",
            dir.display()
        );
    }
    let (entry, entry_text, description) = match kind {
        PluginKind::Plugin => (
            "main.wat",
            format!(
                ";; {name}: the module the host loads. `run` receives the step's input.\n(module\n  (func (export \"run\") (param i32) (result i32)\n    local.get 0))\n"
            ),
            format!("The {name} plugin"),
        ),
        PluginKind::Template => (
            "files/flow.json",
            "{\n  \"flow\": \"{{ flow_name }}\",\n  \"steps\": []\n}\n".to_owned(),
            format!("The {name} solution template"),
        ),
    };
    let template_table = match kind {
        PluginKind::Plugin => "",
        PluginKind::Template => {
            r#"
# The files under `files/` are rendered with these parameters by `wharf template new`
# (docs/templates.md). Types: string (pattern), integer (min, max), bool, choice (choices).
[template]
files = "files"

[[template.parameters]]
name = "flow_name"
type = "string"
description = "The flow's name"
pattern = "[a-z][a-z0-9-]*"
"#
        }
    };
    let manifest = format!(
        r#"[plugin]
name = "{name}"
version = "0.1.0"
kind = "{kind}"
description = "{description}"
license = "Apache-2.0"
authors = []
entry = "{entry}"
categories = []
keywords = []
# The oldest host this runs on; the `{HOST_API_PACKAGE}` requirement below must allow it.
min-host-version = "2.0.0"

[dependencies]
{HOST_API_PACKAGE} = "{NEW_HOST_API}"

[features]
default = []

# Everything not asked for here is denied. Keys: network (host[:port] list), secrets,
# storage ("none", "read", "read-write"), schedules, webhooks, exclusive.
[capabilities]
{template_table}"#
    );
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let files = [
        ("plugin.toml", manifest),
        (
            "README.md",
            format!("# {name}\n\nDescribe what the {kind} does, its inputs and its outputs.\n"),
        ),
        (entry, entry_text),
    ];
    for (file, text) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(files.iter().map(|(file, _)| (*file).to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_plugin_and_a_new_template_pass_the_registry_rules() {
        let dir = tempfile::tempdir().unwrap();
        for (name, kind) in [
            ("demo-step", PluginKind::Plugin),
            ("demo-flow", PluginKind::Template),
        ] {
            let folder = dir.path().join(name);
            scaffold(name, kind, &folder).unwrap();
            let packed = super::super::pack_plugin_dir(&folder).unwrap();
            assert_eq!((packed.name.as_str(), packed.kind), (name, kind));
        }
        let err = scaffold(
            "demo-step",
            PluginKind::Plugin,
            &dir.path().join("demo-step"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("already exists and is not empty"),
            "{err}"
        );
        let err = scaffold("bad name", PluginKind::Plugin, &dir.path().join("x")).unwrap_err();
        assert!(
            err.to_string().contains("cannot name a plugin `bad name`"),
            "{err}"
        );
    }
}

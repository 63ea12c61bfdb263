//! Which packages and versions a sync copies: `--include GLOB` (package names), `--roots
//! NAME[@REQ]` (the resolver closure, `crate::closure`), `--lockfile FILE` (exactly the
//! packages and versions a `Cargo.lock` takes from the upstream).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};

/// Name (lowercase) → the versions to copy.
pub(crate) type Chosen = BTreeMap<String, BTreeSet<String>>;

/// The `--include` patterns; none means every package.
pub(crate) struct Include(Vec<glob::Pattern>);

impl Include {
    /// Parses each `GLOB`; a bad one is refused naming it.
    pub(crate) fn parse(globs: &[String]) -> anyhow::Result<Self> {
        globs
            .iter()
            .map(|glob| {
                glob::Pattern::new(&glob.to_ascii_lowercase()).with_context(|| {
                    format!("--include `{glob}` is not a glob over package names (e.g. `serde*`)")
                })
            })
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    /// Whether the package at `index_path` (its last segment is the lowercase name) is
    /// included.
    pub(crate) fn admits(&self, index_path: &str) -> bool {
        let name = index_path.rsplit('/').next().unwrap_or(index_path);
        self.0.is_empty() || self.0.iter().any(|pattern| pattern.matches(name))
    }
}

/// An index URL without `sparse+`/`registry+`/`git+` and trailing `/`, for comparing sources.
pub(crate) fn normalized(url: &str) -> &str {
    let url = url.trim();
    let url = ["sparse+", "registry+", "git+"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .unwrap_or(url);
    let url = url.split('#').next().unwrap_or(url);
    url.trim_end_matches('/')
}

/// The packages and versions `lockfile` takes from the registry at `upstream`.
pub(crate) fn locked(lockfile: &Path, upstream: &str) -> anyhow::Result<Chosen> {
    let shown = lockfile.display();
    let text = std::fs::read_to_string(lockfile)
        .with_context(|| format!("cannot read the lockfile `{shown}`"))?;
    let lock: toml::Value =
        toml::from_str(&text).with_context(|| format!("`{shown}` is not a lockfile (TOML)"))?;
    let mut chosen = Chosen::new();
    let mut sources = BTreeSet::new();
    for package in lock
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| package.get(key).and_then(toml::Value::as_str);
        let Some(source) = field("source") else {
            continue;
        };
        if normalized(source) != normalized(upstream) {
            sources.insert(source.to_owned());
            continue;
        }
        if let (Some(name), Some(version)) = (field("name"), field("version")) {
            chosen
                .entry(name.to_ascii_lowercase())
                .or_default()
                .insert(version.to_owned());
        }
    }
    if chosen.is_empty() {
        let others: Vec<_> = sources.into_iter().collect();
        bail!(
            "`{shown}` locks no package from `{upstream}` (its sources: {}); give the lockfile of a project that uses this registry",
            if others.is_empty() {
                "none".to_owned()
            } else {
                others.join(", ")
            }
        );
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_globs_match_package_names() {
        let include = Include::parse(&["serde*".to_owned(), "Regex".to_owned()]).unwrap();
        assert!(include.admits("se/rd/serde_json"));
        assert!(include.admits("re/ge/regex"));
        assert!(!include.admits("an/yh/anyhow"));
        assert!(Include::parse(&[]).unwrap().admits("2/aa"));
        assert!(Include::parse(&["[".to_owned()]).is_err());
    }

    #[test]
    fn sources_compare_without_their_scheme_and_slash() {
        assert_eq!(normalized("sparse+http://h/index/"), "http://h/index");
        assert_eq!(normalized("registry+http://h/index"), "http://h/index");
        assert_eq!(
            normalized("git+http://h/git/index#abc"),
            "http://h/git/index"
        );
    }

    #[test]
    fn a_lockfile_gives_exactly_its_packages_from_the_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.lock");
        std::fs::write(
            &path,
            "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n\
             [[package]]\nname = \"Aa\"\nversion = \"1.0.0\"\nsource = \"sparse+http://h/index/\"\n\n\
             [[package]]\nname = \"bb\"\nversion = \"2.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
        )
        .unwrap();
        let chosen = locked(&path, "sparse+http://h/index/").unwrap();
        assert_eq!(chosen.len(), 1);
        assert!(chosen["aa"].contains("1.0.0"));
        let error = locked(&path, "sparse+http://other/index/").unwrap_err();
        assert!(
            error.to_string().contains("locks no package from"),
            "{error}"
        );
    }
}

//! The versions `--roots NAME[@REQ]` carries: every version of each root that matches its
//! requirement, and, transitively, every version of a normal or build dependency (from the
//! same registry) that matches the dependency's requirement — whatever cargo could pick for
//! any feature set, so an offline build never misses one. With a host API pin
//! (`--host-api VERSION`), a version whose requirement on the host API package excludes the
//! pinned version is left out, and the host API package is carried at that version only.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use semver::{Version, VersionReq};
use wharf_resolver::HostPin;

/// Fetches an index file (`None` when the registry has no such package).
pub(crate) type FetchFile<'a> = dyn FnMut(&str) -> anyhow::Result<Option<Vec<u8>>> + 'a;

/// Parses `NAME[@REQ]`.
fn parse_root(root: &str) -> anyhow::Result<(String, VersionReq)> {
    let (name, req) = root.split_once('@').unwrap_or((root, "*"));
    let req = VersionReq::parse(req).with_context(|| {
        format!("`{root}` is not NAME or NAME@REQ (a semver requirement such as `^1.2`)")
    })?;
    Ok((name.to_owned(), req))
}

/// The package a dependency entry names (its `package` when renamed).
fn dep_name(dep: &serde_json::Value) -> &str {
    dep["package"]
        .as_str()
        .or_else(|| dep["name"].as_str())
        .unwrap_or_default()
}

/// Name → versions of the closure of `roots`.
pub(crate) fn closure(
    roots: &[String],
    host: Option<&HostPin>,
    fetch: &mut FetchFile<'_>,
) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut queue = Vec::new();
    for root in roots {
        queue.push((parse_root(root)?, root.clone()));
    }
    let mut seen = BTreeSet::new();
    let mut files: BTreeMap<String, Option<Vec<serde_json::Value>>> = BTreeMap::new();
    while let Some(((name, req), asked_by)) = queue.pop() {
        if !seen.insert((name.clone(), req.to_string())) {
            continue;
        }
        let key = name.to_ascii_lowercase();
        if !files.contains_key(&key) {
            let lines = fetch(&wharf_index_format::index_path(&name))?.map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter_map(|line| serde_json::from_str(line).ok())
                    .collect()
            });
            files.insert(key.clone(), lines);
        }
        let Some(Some(lines)) = files.get(&key) else {
            bail!("crate `{name}` (asked for by `{asked_by}`) is not in the registry's index");
        };
        let mut matched = false;
        for entry in lines {
            let Some(version) = entry["vers"].as_str() else {
                continue;
            };
            let pinned_out = host.is_some_and(|host| {
                let is_host = name.eq_ignore_ascii_case(&host.name);
                let needs_other = entry["deps"].as_array().into_iter().flatten().any(|dep| {
                    dep_name(dep).eq_ignore_ascii_case(&host.name)
                        && dep["kind"] != "dev"
                        && !VersionReq::parse(dep["req"].as_str().unwrap_or("*"))
                            .is_ok_and(|req| req.matches(&host.version))
                });
                needs_other || (is_host && version != host.version.to_string())
            });
            if pinned_out || !Version::parse(version).is_ok_and(|parsed| req.matches(&parsed)) {
                continue;
            }
            matched = true;
            let real_name = entry["name"].as_str().unwrap_or(&name).to_owned();
            if !wanted
                .entry(real_name.clone())
                .or_default()
                .insert(version.to_owned())
            {
                continue;
            }
            for dep in entry["deps"].as_array().into_iter().flatten() {
                let from_elsewhere = dep["registry"].as_str().is_some_and(|r| !r.is_empty());
                if dep["kind"] == "dev" || from_elsewhere {
                    continue;
                }
                let dep_req = VersionReq::parse(dep["req"].as_str().unwrap_or("*"))
                    .unwrap_or(VersionReq::STAR);
                queue.push((
                    (dep_name(dep).to_owned(), dep_req),
                    format!("{real_name} {version}"),
                ));
            }
        }
        if !matched {
            bail!("crate `{name}` has no version matching `{req}` (asked for by `{asked_by}`)");
        }
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, version: &str, deps: &str) -> String {
        format!(r#"{{"name":"{name}","vers":"{version}","deps":[{deps}],"cksum":"00"}}"#)
    }

    #[test]
    fn the_closure_follows_matching_versions_and_skips_dev_dependencies() {
        let index: BTreeMap<&str, String> = [
            (
                "3/t/top",
                [
                    line(
                        "top",
                        "1.0.0",
                        r#"{"name":"mid","req":"^2"},{"name":"tester","req":"*","kind":"dev"}"#,
                    ),
                    line("top", "2.0.0", ""),
                ]
                .join("\n"),
            ),
            (
                "3/m/mid",
                [line("mid", "1.0.0", ""), line("mid", "2.1.0", "")].join("\n"),
            ),
        ]
        .into_iter()
        .collect();
        let mut fetch = |path: &str| Ok(index.get(path).map(|text| text.clone().into_bytes()));
        let wanted = closure(&["top@^1".to_owned()], None, &mut fetch).expect("a closure");
        let expected: BTreeMap<String, BTreeSet<String>> = [
            ("mid".to_owned(), ["2.1.0".to_owned()].into()),
            ("top".to_owned(), ["1.0.0".to_owned()].into()),
        ]
        .into();
        assert_eq!(wanted, expected);
        let missing = closure(&["top@^3".to_owned()], None, &mut fetch).unwrap_err();
        assert!(
            missing.to_string().contains("no version matching"),
            "{missing}"
        );
    }

    #[test]
    fn a_host_api_pin_leaves_out_versions_for_another_host() {
        let index: BTreeMap<&str, String> = [
            (
                "pl/ug/plugin",
                [
                    line("plugin", "1.0.0", r#"{"name":"host-api","req":"^1"}"#),
                    line("plugin", "2.0.0", r#"{"name":"host-api","req":"^2"}"#),
                ]
                .join("\n"),
            ),
            (
                "ho/st/host-api",
                [
                    line("host-api", "1.0.0", ""),
                    line("host-api", "2.3.0", ""),
                    line("host-api", "2.4.0", ""),
                ]
                .join("\n"),
            ),
        ]
        .into_iter()
        .collect();
        let mut fetch = |path: &str| Ok(index.get(path).map(|text| text.clone().into_bytes()));
        let pin = HostPin::new(Version::new(2, 3, 0));
        let wanted = closure(&["plugin".to_owned()], Some(&pin), &mut fetch).expect("a closure");
        let expected: BTreeMap<String, BTreeSet<String>> = [
            ("host-api".to_owned(), ["2.3.0".to_owned()].into()),
            ("plugin".to_owned(), ["2.0.0".to_owned()].into()),
        ]
        .into();
        assert_eq!(wanted, expected);
    }
}

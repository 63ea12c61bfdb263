//! [`satisfiable`]: whether an install request has a solution, decided by exhaustive search
//! with no resolver involved: every combination of versions is tried (depth first, with the
//! rules cargo applies: at most one version per semver-compatible bucket of a package, and
//! at most one package per `links` value, which plugins use for exclusive resources).

use std::collections::{BTreeMap, HashMap};

use semver::{Version, VersionReq};

/// One version of a package, as the search sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The version.
    pub version: Version,
    /// Its normal and build dependencies that are not optional.
    pub deps: Vec<(String, VersionReq)>,
    /// Its `links` value (a plugin's exclusive resource).
    pub links: Option<String>,
}

/// Every package's versions (`Ecosystem::graph`).
pub type Graph = BTreeMap<String, Vec<Node>>;

/// The answer of the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Satisfiable {
    /// Some combination satisfies every requirement.
    Yes,
    /// None does.
    No,
    /// The search gave up after its step budget.
    Unknown,
}

/// Steps the search may take before it answers [`Satisfiable::Unknown`].
const BUDGET: u64 = 2_000_000;

/// Whether `requested` (with `host` pinned to `host_version`) has a solution in `graph`.
pub fn satisfiable(
    graph: &Graph,
    host: &str,
    host_version: &Version,
    requested: &[(String, VersionReq)],
) -> Satisfiable {
    let mut search = Search {
        graph,
        host,
        host_version,
        selected: HashMap::new(),
        links: HashMap::new(),
        steps: 0,
    };
    match search.solve(requested.to_vec()) {
        Some(true) => Satisfiable::Yes,
        Some(false) => Satisfiable::No,
        None => Satisfiable::Unknown,
    }
}

/// cargo's semver-compatible bucket of a version: the major from 1.0, else `0.minor`, else
/// `0.0.patch`.
fn bucket(version: &Version) -> (u64, u64, u64) {
    match (version.major, version.minor) {
        (0, 0) => (0, 0, version.patch),
        (0, minor) => (0, minor, 0),
        (major, _) => (major, 0, 0),
    }
}

struct Search<'a> {
    graph: &'a Graph,
    host: &'a str,
    host_version: &'a Version,
    selected: HashMap<(String, (u64, u64, u64)), Version>,
    /// Each `links` value taken, by the package that took it.
    links: HashMap<String, String>,
    steps: u64,
}

impl Search<'_> {
    /// `Some(found)`, or `None` once the budget is spent.
    fn solve(&mut self, mut pending: Vec<(String, VersionReq)>) -> Option<bool> {
        self.steps += 1;
        if self.steps > BUDGET {
            return None;
        }
        let Some((name, req)) = pending.pop() else {
            return Some(true);
        };
        if name == self.host {
            return if req.matches(self.host_version) {
                self.solve(pending)
            } else {
                Some(false)
            };
        }
        let Some(versions) = self.graph.get(&name) else {
            return Some(false);
        };
        for node in versions.iter().rev().filter(|n| req.matches(&n.version)) {
            let key = (name.clone(), bucket(&node.version));
            match self.selected.get(&key) {
                Some(chosen) if *chosen == node.version => {
                    if self.solve(pending.clone())? {
                        return Some(true);
                    }
                }
                Some(_) => {}
                None => {
                    if let Some(links) = &node.links
                        && self.links.contains_key(links)
                    {
                        continue;
                    }
                    self.selected.insert(key.clone(), node.version.clone());
                    if let Some(links) = &node.links {
                        self.links.insert(links.clone(), name.clone());
                    }
                    let mut next = pending.clone();
                    next.extend(node.deps.iter().cloned());
                    let found = self.solve(next);
                    self.selected.remove(&key);
                    if let Some(links) = &node.links {
                        self.links.remove(links);
                    }
                    if found? {
                        return Some(true);
                    }
                }
            }
        }
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, version, [(dependency, requirement)])`.
    type Line<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    fn graph(entries: &[Line<'_>]) -> Graph {
        let mut graph = Graph::new();
        for (name, version, deps) in entries {
            graph.entry((*name).to_owned()).or_default().push(Node {
                version: version.parse().unwrap(),
                deps: deps
                    .iter()
                    .map(|(d, r)| ((*d).to_owned(), r.parse().unwrap()))
                    .collect(),
                links: None,
            });
        }
        graph
    }

    fn req(name: &str) -> Vec<(String, VersionReq)> {
        vec![(name.to_owned(), VersionReq::STAR)]
    }

    #[test]
    fn the_host_pin_pins_and_a_pin_conflict_in_one_bucket_has_no_solution() {
        let g = graph(&[
            ("lib", "1.0.0", &[]),
            ("lib", "1.1.0", &[]),
            ("a", "1.0.0", &[("host-api", "^1"), ("lib", "=1.0.0")]),
            ("b", "1.0.0", &[("host-api", "^1"), ("lib", "=1.1.0")]),
            ("b", "2.0.0", &[("host-api", "^2"), ("lib", "^1")]),
        ]);
        let v1 = Version::new(1, 0, 0);
        let v2 = Version::new(2, 0, 0);
        assert_eq!(
            satisfiable(&g, "host-api", &v1, &req("a")),
            Satisfiable::Yes
        );
        assert_eq!(satisfiable(&g, "host-api", &v2, &req("a")), Satisfiable::No);
        let both = [req("a"), req("b")].concat();
        assert_eq!(satisfiable(&g, "host-api", &v1, &both), Satisfiable::No);
        assert_eq!(
            satisfiable(&g, "host-api", &v2, &req("b")),
            Satisfiable::Yes
        );
    }

    #[test]
    fn two_packages_with_one_links_value_never_go_together() {
        let mut g = graph(&[("a", "1.0.0", &[]), ("b", "1.0.0", &[])]);
        for name in ["a", "b"] {
            g.get_mut(name).unwrap()[0].links = Some("smtp-listener".to_owned());
        }
        let v1 = Version::new(1, 0, 0);
        assert_eq!(
            satisfiable(&g, "host-api", &v1, &req("a")),
            Satisfiable::Yes
        );
        let both = [req("a"), req("b")].concat();
        assert_eq!(satisfiable(&g, "host-api", &v1, &both), Satisfiable::No);
    }
}

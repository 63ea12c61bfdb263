//! Property tests on small random registries: agreement with a brute-force oracle on
//! satisfiability, validity of every solution, determinism, and monotonicity.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use proptest::prelude::*;
use semver::{Version, VersionReq};
use wharf_resolver::{
    MemoryIndex, Resolution, ResolveError, ResolveOptions, RootManifest, resolve,
};

use crate::support::{dep, manifest, pkg};

const VERSIONS: [&str; 6] = ["0.1.0", "0.1.3", "1.0.0", "1.2.0", "2.0.0", "2.1.0-rc.1"];
const REQS: [&str; 9] = [
    "^0.1",
    "^1",
    "^1.2",
    "=1.0.0",
    ">=1",
    "*",
    "^2",
    "<1.1",
    "^2.1.0-rc.1",
];

/// A generated problem: packages `p0..pN`, each version with deps on higher-numbered packages
/// only (no cycles), and root requirements.
/// (package index, version, yanked, deps as (package index, requirement), links `native`).
type GeneratedVersion = (usize, &'static str, bool, Vec<(usize, &'static str)>, bool);

#[derive(Debug, Clone)]
struct Problem {
    versions: Vec<GeneratedVersion>,
    root: Vec<(usize, &'static str)>,
}

fn name(i: usize) -> String {
    format!("p{i}")
}

fn problem() -> impl Strategy<Value = Problem> {
    (2usize..5).prop_flat_map(|count| {
        let version = (
            0..count,
            0..VERSIONS.len(),
            prop::bool::weighted(0.15),
            prop::collection::vec((0..count, 0..REQS.len()), 0..3),
            prop::bool::weighted(0.2),
        )
            .prop_map(move |(p, v, yanked, deps, links)| {
                let deps = deps
                    .into_iter()
                    .filter(|(d, _)| *d > p)
                    .map(|(d, r)| (d, REQS[r]))
                    .collect();
                (p, VERSIONS[v], yanked, deps, links)
            });
        let versions = prop::collection::vec(version, 1..9);
        let root = prop::collection::vec((0..count, 0..REQS.len()), 1..3)
            .prop_map(|r| r.into_iter().map(|(p, q)| (p, REQS[q])).collect());
        (versions, root).prop_map(|(mut versions, root)| {
            versions.sort_by_key(|v| (v.0, v.1));
            versions.dedup_by_key(|v| (v.0, v.1));
            Problem { versions, root }
        })
    })
}

fn build(problem: &Problem, reverse: bool) -> (MemoryIndex, RootManifest) {
    let mut index = MemoryIndex::default();
    let mut order: Vec<_> = problem.versions.iter().collect();
    if reverse {
        order.reverse();
    }
    for (p, v, yanked, deps, links) in order {
        let mut entry = pkg(&name(*p), v);
        for (d, req) in deps {
            entry = entry.with(dep(&name(*d), req));
        }
        if *yanked {
            entry = entry.yanked();
        }
        if *links {
            entry = entry.links("native");
        }
        index.add(entry.entry());
    }
    let mut body = String::from("[dependencies]\n");
    for (i, (p, req)) in problem.root.iter().enumerate() {
        // Distinct keys so the same package may be required twice.
        let _ = writeln!(
            body,
            "r{i} = {{ package = \"{}\", version = \"{req}\" }}",
            name(*p)
        );
    }
    (index, manifest(&body))
}

type Bucket = (u64, u64, u64);

fn compat(v: &Version) -> Bucket {
    match (v.major, v.minor) {
        (0, 0) => (0, 0, v.patch),
        (0, m) => (0, m, 0),
        (m, _) => (m, 0, 0),
    }
}

type Assignment = Vec<(usize, Version)>;

fn satisfied(assignment: &Assignment, target: usize, req: &str) -> bool {
    let req = VersionReq::parse(req).unwrap();
    assignment
        .iter()
        .any(|(p, v)| *p == target && req.matches(v))
}

/// Independent validity check of an assignment against the problem.
fn valid(problem: &Problem, assignment: &Assignment) -> Result<(), String> {
    let mut buckets = BTreeMap::new();
    let mut linking = Vec::new();
    for (p, v) in assignment {
        if buckets.insert((*p, compat(v)), v.clone()).is_some() {
            return Err(format!("two versions of {} in one bucket", name(*p)));
        }
        let Some((_, _, yanked, deps, links)) = problem
            .versions
            .iter()
            .find(|x| x.0 == *p && Version::parse(x.1).unwrap() == *v)
        else {
            return Err(format!("{} {v} does not exist", name(*p)));
        };
        if *yanked {
            return Err(format!("{} {v} is yanked", name(*p)));
        }
        if *links {
            linking.push(format!("{} {v}", name(*p)));
        }
        for (d, req) in deps {
            if !satisfied(assignment, *d, req) {
                return Err(format!("{} {v} needs {} {req}", name(*p), name(*d)));
            }
        }
    }
    for (p, req) in &problem.root {
        if !satisfied(assignment, *p, req) {
            return Err(format!("root needs {} {req}", name(*p)));
        }
    }
    if linking.len() > 1 {
        return Err(format!("{} all link `native`", linking.join(", ")));
    }
    Ok(())
}

/// Brute force: every choice of at most one non-yanked version per (package, bucket).
fn oracle(problem: &Problem) -> bool {
    let mut slots: BTreeMap<(usize, Bucket), Vec<Version>> = BTreeMap::new();
    for (p, v, yanked, _, _) in &problem.versions {
        let v = Version::parse(v).unwrap();
        let slot = slots.entry((*p, compat(&v))).or_default();
        if !yanked {
            slot.push(v);
        }
    }
    let slots: Vec<_> = slots.into_iter().collect();
    let mut choice = vec![0usize; slots.len()];
    loop {
        let assignment: Assignment = slots
            .iter()
            .zip(&choice)
            .filter(|(_, c)| **c > 0)
            .map(|(((p, _), versions), c)| (*p, versions[c - 1].clone()))
            .collect();
        if valid(problem, &assignment).is_ok() {
            return true;
        }
        let mut i = 0;
        loop {
            if i == slots.len() {
                return false;
            }
            choice[i] += 1;
            if choice[i] <= slots[i].1.len() {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
    }
}

fn assignment_of(resolution: &Resolution) -> Assignment {
    resolution
        .packages
        .iter()
        .map(|p| (p.name[1..].parse().unwrap(), p.version.clone()))
        .collect()
}

fn run(problem: &Problem) -> Result<Resolution, ResolveError> {
    let (index, root) = build(problem, false);
    resolve(&index, &root, &ResolveOptions::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_brute_force_and_solutions_are_valid(problem in problem()) {
        let result = run(&problem);
        let expected = oracle(&problem);
        match &result {
            Ok(resolution) => {
                prop_assert!(expected, "resolver found {:?}, oracle found nothing", resolution.packages);
                prop_assert_eq!(valid(&problem, &assignment_of(resolution)), Ok(()));
            }
            Err(ResolveError::NoSolution(_)) => prop_assert!(!expected, "oracle found a solution"),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn results_are_deterministic(problem in problem()) {
        let first = run(&problem).map_err(|e| e.to_string());
        let again = run(&problem).map_err(|e| e.to_string());
        prop_assert_eq!(&first, &again);
        let (index, root) = build(&problem, true);
        let reversed = resolve(&index, &root, &ResolveOptions::default()).map_err(|e| e.to_string());
        prop_assert_eq!(first, reversed);
    }

    #[test]
    fn removing_a_dependency_keeps_a_solvable_problem_solvable(problem in problem(), pick in any::<prop::sample::Index>()) {
        if run(&problem).is_err() {
            // Only solvable problems say anything here; about half the generated ones are.
            return Ok(());
        }
        let mut smaller = problem.clone();
        let edges: Vec<(usize, usize)> = smaller
            .versions
            .iter()
            .enumerate()
            .flat_map(|(i, v)| (0..v.3.len()).map(move |j| (i, j)))
            .collect();
        if edges.is_empty() {
            if smaller.root.len() > 1 {
                smaller.root.remove(pick.index(smaller.root.len()));
            }
        } else {
            let (i, j) = edges[pick.index(edges.len())];
            smaller.versions[i].3.remove(j);
        }
        prop_assert!(run(&smaller).is_ok());
    }
}

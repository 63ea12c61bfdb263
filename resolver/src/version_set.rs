//! Sets of semver versions that agree exactly with `semver::VersionReq::matches`.
//!
//! Normal releases live on `(major, minor, patch)` triples with half-open bounds, which keeps
//! every set in one canonical form (pubgrub needs semantic equality). Pre-releases live on the
//! full semver order in a second dimension, because a requirement matches a pre-release only
//! when one of its comparators names the same triple with a pre-release tag: that is not an
//! interval of the version order. Every operation works on both dimensions independently.

use std::fmt;
use std::ops::Bound;

use pubgrub::{Ranges, VersionSet};
use semver::{BuildMetadata, Comparator, Op, Prerelease, Version, VersionReq};

/// A release triple: `(major, minor, patch)`.
pub(crate) type Triple = (u64, u64, u64);

fn triple(version: &Version) -> Triple {
    (version.major, version.minor, version.patch)
}

fn next_patch(t: Triple) -> Triple {
    (t.0, t.1, t.2 + 1)
}

fn version_of(t: Triple, pre: Prerelease) -> Version {
    Version {
        major: t.0,
        minor: t.1,
        patch: t.2,
        pre,
        build: BuildMetadata::EMPTY,
    }
}

/// The smallest version of triple `t` in semver order (`t-0`).
fn lowest_of(t: Triple) -> Version {
    version_of(t, Prerelease::new("0").expect("`0` is a valid pre-release"))
}

/// A set of versions; see the module documentation for its two dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SemverSet {
    normal: Ranges<Triple>,
    pre: PreSet,
}

/// The pre-release dimension. Nearly always empty or full, so those need no allocation and
/// keep sets small for the solver to move around; `Some` is never empty nor full.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum PreSet {
    Empty,
    Full,
    Some(Box<Ranges<Version>>),
}

impl PreSet {
    fn of(ranges: Ranges<Version>) -> Self {
        if ranges.is_empty() {
            Self::Empty
        } else if ranges == Ranges::full() {
            Self::Full
        } else {
            Self::Some(Box::new(ranges))
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    fn complement(&self) -> Self {
        match self {
            Self::Empty => Self::Full,
            Self::Full => Self::Empty,
            Self::Some(r) => Self::of(r.complement()),
        }
    }

    fn intersection(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::Empty, _) | (_, Self::Empty) => Self::Empty,
            (Self::Full, x) | (x, Self::Full) => x.clone(),
            (Self::Some(a), Self::Some(b)) => Self::of(a.intersection(b)),
        }
    }

    fn union(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::Full, _) | (_, Self::Full) => Self::Full,
            (Self::Empty, x) | (x, Self::Empty) => x.clone(),
            (Self::Some(a), Self::Some(b)) => Self::of(a.union(b)),
        }
    }

    fn contains(&self, v: &Version) -> bool {
        match self {
            Self::Empty => false,
            Self::Full => true,
            Self::Some(r) => r.contains(v),
        }
    }

    fn is_disjoint(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Empty, _) | (_, Self::Empty) => true,
            (Self::Full, _) | (_, Self::Full) => false,
            (Self::Some(a), Self::Some(b)) => a.is_disjoint(b),
        }
    }

    fn subset_of(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Empty, _) | (_, Self::Full) => true,
            (_, Self::Empty) | (Self::Full, _) => false,
            (Self::Some(a), Self::Some(b)) => a.subset_of(b),
        }
    }
}

impl fmt::Display for PreSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("none"),
            Self::Full => f.write_str("*"),
            Self::Some(r) => write!(f, "{r}"),
        }
    }
}

impl SemverSet {
    /// The versions `requirement` matches, as `VersionReq::matches` decides.
    pub(crate) fn from_req(requirement: &VersionReq) -> Self {
        let mut full = Ranges::full();
        let mut full_pre = Ranges::full();
        let mut pre_allowed = Ranges::empty();
        for comparator in &requirement.comparators {
            let (range, pre_range) = comparator_ranges(comparator);
            full = full.intersection(&range);
            full_pre = full_pre.intersection(&pre_range);
            if let (Some(minor), Some(patch), false) = (
                comparator.minor,
                comparator.patch,
                comparator.pre.is_empty(),
            ) {
                let t = (comparator.major, minor, patch);
                pre_allowed = pre_allowed.union(&Ranges::between(
                    lowest_of(t),
                    version_of(t, Prerelease::EMPTY),
                ));
            }
        }
        Self {
            normal: project_to_triples(&full),
            pre: PreSet::of(full_pre.intersection(&pre_allowed)),
        }
    }

    /// Every version from `low` (inclusive) to `high` (exclusive), pre-releases included.
    pub(crate) fn between(low: Triple, high: Triple) -> Self {
        Self {
            normal: Ranges::between(low, high),
            pre: PreSet::of(Ranges::between(lowest_of(low), lowest_of(high))),
        }
    }

    /// The lowest normal release the set admits, if it has a lower bound.
    pub(crate) fn lowest_triple(&self) -> Option<Triple> {
        match self.normal.bounding_range() {
            Some((Bound::Included(t), _)) => Some(*t),
            Some((Bound::Unbounded, _)) => Some((0, 0, 0)),
            _ => None,
        }
    }
}

impl VersionSet for SemverSet {
    type V = Version;

    fn empty() -> Self {
        Self {
            normal: Ranges::empty(),
            pre: PreSet::Empty,
        }
    }

    fn full() -> Self {
        Self {
            normal: Ranges::full(),
            pre: PreSet::Full,
        }
    }

    fn singleton(v: Version) -> Self {
        if v.pre.is_empty() {
            let t = triple(&v);
            Self {
                normal: Ranges::between(t, next_patch(t)),
                pre: PreSet::Empty,
            }
        } else {
            Self {
                normal: Ranges::empty(),
                pre: PreSet::of(Ranges::singleton(v)),
            }
        }
    }

    fn complement(&self) -> Self {
        Self {
            normal: self.normal.complement(),
            pre: self.pre.complement(),
        }
    }

    fn intersection(&self, other: &Self) -> Self {
        Self {
            normal: self.normal.intersection(&other.normal),
            pre: self.pre.intersection(&other.pre),
        }
    }

    fn contains(&self, v: &Version) -> bool {
        if v.pre.is_empty() {
            self.normal.contains(&triple(v))
        } else {
            self.pre.contains(v)
        }
    }

    fn union(&self, other: &Self) -> Self {
        Self {
            normal: self.normal.union(&other.normal),
            pre: self.pre.union(&other.pre),
        }
    }

    fn is_disjoint(&self, other: &Self) -> bool {
        self.normal.is_disjoint(&other.normal) && self.pre.is_disjoint(&other.pre)
    }

    fn subset_of(&self, other: &Self) -> bool {
        self.normal.subset_of(&other.normal) && self.pre.subset_of(&other.pre)
    }
}

impl fmt::Display for SemverSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |t: &Triple| format!("{}.{}.{}", t.0, t.1, t.2);
        let mut parts = Vec::new();
        for (low, high) in self.normal.iter() {
            parts.push(match (low, high) {
                (Bound::Included(a), Bound::Excluded(b)) if *b == next_patch(*a) => {
                    format!("={}", show(a))
                }
                (Bound::Unbounded, Bound::Unbounded) => "*".to_owned(),
                (Bound::Included(a), Bound::Unbounded) => format!(">={}", show(a)),
                (Bound::Unbounded, Bound::Excluded(b)) => format!("<{}", show(b)),
                (Bound::Included(a), Bound::Excluded(b)) => {
                    format!(">={}, <{}", show(a), show(b))
                }
                (a, b) => format!("{a:?}..{b:?}"),
            });
        }
        if !self.pre.is_empty() {
            parts.push(format!("pre-releases {}", self.pre));
        }
        if parts.is_empty() {
            f.write_str("no version")
        } else {
            f.write_str(&parts.join(" or "))
        }
    }
}

/// What one comparator matches among normal releases (first) and among pre-releases
/// (second), pre-release gate aside. They differ for comparators without a patch number:
/// semver's `=2`, `~2.1` and the exact half of `>=2` / `<=2.1` never match a pre-release.
fn comparator_ranges(c: &Comparator) -> (Ranges<Version>, Ranges<Version>) {
    let range = comparator_range(c);
    if c.patch.is_some() {
        return (range.clone(), range);
    }
    let pre = match c.op {
        Op::Exact | Op::Wildcard | Op::Tilde => Ranges::empty(),
        Op::GreaterEq => comparator_range(&Comparator {
            op: Op::Greater,
            ..c.clone()
        }),
        Op::LessEq => comparator_range(&Comparator {
            op: Op::Less,
            ..c.clone()
        }),
        _ => range.clone(),
    };
    (range, pre)
}

/// The full-order set one comparator matches (semver's rules, pre-release gate aside).
fn comparator_range(c: &Comparator) -> Ranges<Version> {
    let major = c.major;
    let exact = || -> Ranges<Version> {
        match (c.minor, c.patch) {
            (Some(minor), Some(patch)) => {
                Ranges::singleton(version_of((major, minor, patch), c.pre.clone()))
            }
            (Some(minor), None) => Ranges::between(
                lowest_of((major, minor, 0)),
                lowest_of((major, minor + 1, 0)),
            ),
            _ => Ranges::between(lowest_of((major, 0, 0)), lowest_of((major + 1, 0, 0))),
        }
    };
    let greater = || -> Ranges<Version> {
        match (c.minor, c.patch) {
            (Some(minor), Some(patch)) if c.pre.is_empty() => {
                Ranges::higher_than(lowest_of((major, minor, patch + 1)))
            }
            (Some(minor), Some(patch)) => {
                Ranges::strictly_higher_than(version_of((major, minor, patch), c.pre.clone()))
            }
            (Some(minor), None) => Ranges::higher_than(lowest_of((major, minor + 1, 0))),
            _ => Ranges::higher_than(lowest_of((major + 1, 0, 0))),
        }
    };
    let less = || -> Ranges<Version> {
        match (c.minor, c.patch) {
            (Some(minor), Some(patch)) => {
                Ranges::strictly_lower_than(version_of((major, minor, patch), c.pre.clone()))
            }
            (Some(minor), None) => Ranges::strictly_lower_than(lowest_of((major, minor, 0))),
            _ => Ranges::strictly_lower_than(lowest_of((major, 0, 0))),
        }
    };
    match c.op {
        Op::Greater => greater(),
        Op::GreaterEq => exact().union(&greater()),
        Op::Less => less(),
        Op::LessEq => exact().union(&less()),
        Op::Tilde => match (c.minor, c.patch) {
            (Some(minor), Some(patch)) => Ranges::between(
                version_of((major, minor, patch), c.pre.clone()),
                lowest_of((major, minor + 1, 0)),
            ),
            _ => exact(),
        },
        Op::Caret => match (c.minor, c.patch) {
            (Some(minor), None) if major > 0 => {
                Ranges::between(lowest_of((major, minor, 0)), lowest_of((major + 1, 0, 0)))
            }
            (Some(minor), Some(patch)) => {
                let end = if major > 0 {
                    (major + 1, 0, 0)
                } else if minor > 0 {
                    (0, minor + 1, 0)
                } else {
                    (0, 0, patch + 1)
                };
                Ranges::between(
                    version_of((major, minor, patch), c.pre.clone()),
                    lowest_of(end),
                )
            }
            _ => exact(),
        },
        // `Op::Exact`, `Op::Wildcard` and any operator semver adds later.
        _ => exact(),
    }
}

/// Projects a full-order set onto release triples with half-open canonical bounds.
fn project_to_triples(full: &Ranges<Version>) -> Ranges<Triple> {
    let mut out = Ranges::empty();
    for (low, high) in full.iter() {
        let low = match low {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Excluded(v) if v.pre.is_empty() => Bound::Included(next_patch(triple(v))),
            Bound::Included(v) | Bound::Excluded(v) => Bound::Included(triple(v)),
        };
        let high = match high {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(v) if v.pre.is_empty() => Bound::Excluded(next_patch(triple(v))),
            Bound::Included(v) | Bound::Excluded(v) => Bound::Excluded(triple(v)),
        };
        out = out.union(&Ranges::from_range_bounds((low, high)));
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn version_strategy() -> impl Strategy<Value = Version> {
        (0u64..3, 0u64..3, 0u64..3, prop::option::of(0u8..3)).prop_map(|(a, b, c, pre)| {
            let mut v = Version::new(a, b, c);
            if let Some(p) = pre {
                v.pre = Prerelease::new(["alpha", "beta.1", "rc.2"][usize::from(p)]).unwrap();
            }
            v
        })
    }

    fn req_strategy() -> impl Strategy<Value = VersionReq> {
        let op = prop::sample::select(vec!["", "^", "~", "=", ">", ">=", "<", "<="]);
        let comparator = (op, version_strategy(), 0u8..3).prop_map(|(op, v, width)| match width {
            0 => format!("{op}{}", v.major),
            1 => format!("{op}{}.{}", v.major, v.minor),
            _ => format!("{op}{v}"),
        });
        prop::collection::vec(comparator, 1..3).prop_filter_map("parseable", |parts| {
            VersionReq::parse(&parts.join(", ")).ok()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn agrees_with_version_req_matches(req in req_strategy(), v in version_strategy()) {
            prop_assert_eq!(SemverSet::from_req(&req).contains(&v), req.matches(&v), "{} vs {}", req, v);
        }

        #[test]
        fn complement_and_intersection_are_consistent(a in req_strategy(), b in req_strategy(), v in version_strategy()) {
            let (sa, sb) = (SemverSet::from_req(&a), SemverSet::from_req(&b));
            prop_assert_eq!(sa.intersection(&sb).contains(&v), a.matches(&v) && b.matches(&v));
            prop_assert_eq!(sa.complement().contains(&v), !a.matches(&v));
            prop_assert_eq!(sa.union(&sb).contains(&v), a.matches(&v) || b.matches(&v));
            if sa.subset_of(&sb) && a.matches(&v) {
                prop_assert!(b.matches(&v), "{} within {} but {} disagrees", a, b, v);
            }
            if sa.is_disjoint(&sb) {
                prop_assert!(!(a.matches(&v) && b.matches(&v)), "{} and {} disjoint but share {}", a, b, v);
            }
            // Semantic equality: the same versions give equal sets.
            let twice = sa.intersection(&sa.union(&sb.complement().complement()).intersection(&sa));
            prop_assert_eq!(&twice, &sa);
            prop_assert_eq!(sa.complement().complement(), sa.clone());
            prop_assert!(sa.subset_of(&sa.union(&sb)));
            prop_assert!(sa.is_disjoint(&sa.complement()));
        }
    }

    #[test]
    fn wildcard_and_star_match_everything_released() {
        let set = SemverSet::from_req(&VersionReq::parse("*").unwrap());
        assert!(set.contains(&Version::new(7, 1, 0)));
        assert!(!set.contains(&Version::parse("7.1.0-beta").unwrap()));
    }
}

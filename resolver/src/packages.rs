//! The solver's package identities: real buckets plus the virtual packages that encode
//! features, optional dependencies, requirements spanning buckets, and `links`.

use std::fmt;
use std::rc::Rc;

use crate::catalog::Compat;
use crate::version_set::SemverSet;

/// A feature request on a bucket.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(crate) enum Feat {
    /// A named feature (or a `dep/feature` value given in a dependency's feature list).
    Named(Rc<str>),
    /// `dep:x`: the optional dependency `x` is active.
    Dep(Rc<str>),
    /// Default features were requested: means `default` if the version defines it.
    Default,
}

/// A requirement that matches versions in more than one bucket (`>=0.1`, `*`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct WideRequirement {
    pub(crate) name: Rc<str>,
    pub(crate) req: Rc<str>,
    pub(crate) set: SemverSet,
    pub(crate) features: Rc<[Feat]>,
    /// The depending package (`None` for the root) and its bucket: one per parent bucket.
    pub(crate) from: Option<(Rc<str>, Compat)>,
}

/// A pubgrub package.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Pkg {
    /// The manifest being resolved.
    Root,
    /// One semver-compatible bucket of a real package.
    Bucket(Rc<str>, Compat),
    /// A feature of a bucket; its version `v` depends on `Bucket == v`.
    Feature(Rc<str>, Compat, Feat),
    /// A multi-bucket requirement; its versions are the canonical versions of the buckets.
    Wide(Rc<WideRequirement>),
    /// A native library name; each linking bucket requires a distinct singleton.
    Links(Rc<str>),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("<root>"),
            Self::Bucket(name, compat) => write!(f, "{name}@{compat}"),
            Self::Feature(name, compat, Feat::Named(x)) => write!(f, "{name}@{compat}[{x}]"),
            Self::Feature(name, compat, Feat::Dep(x)) => write!(f, "{name}@{compat}[dep:{x}]"),
            Self::Feature(name, compat, Feat::Default) => write!(f, "{name}@{compat}[+default]"),
            Self::Wide(wide) => match &wide.from {
                Some((parent, compat)) => {
                    write!(f, "{} {} (from {parent}@{compat})", wide.name, wide.req)
                }
                None => write!(f, "{} {} (from <root>)", wide.name, wide.req),
            },
            Self::Links(lib) => write!(f, "links:{lib}"),
        }
    }
}

//! What a failed resolution tells people: facts about real packages, the derivation that
//! links them, and hints, as data and as text.

use std::fmt;

use semver::Version;

/// What the root requirements of a resolution came from, which decides how explanations
/// speak of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum RootOrigin {
    /// A `Cargo.toml` ([`crate::RootManifest`]): "your manifest requires …".
    #[default]
    Manifest,
    /// Requirements built in code ([`crate::Requirements`]): "the requirements you gave …".
    Requirements,
}

impl RootOrigin {
    /// How explanations name the root: `your manifest` or `the requirements you gave`.
    pub fn subject(self) -> &'static str {
        match self {
            Self::Manifest => "your manifest",
            Self::Requirements => "the requirements you gave",
        }
    }

    /// The verb explanations use for the root's requirements.
    fn verb(self) -> &'static str {
        match self {
            Self::Manifest => "requires",
            Self::Requirements => "ask for",
        }
    }
}

/// One fact of an explanation, about real packages only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "fact", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Fact {
    /// The root (a manifest, or requirements given in code) requires a package.
    RootRequires {
        /// The required package.
        package: String,
        /// The requirement.
        requirement: String,
        /// A feature the root asks of it, if the fact is about that feature.
        feature: Option<String>,
        /// Where the requirement came from.
        origin: RootOrigin,
    },
    /// Plugin mode: the host pins its API package.
    HostProvides {
        /// The host API package.
        host: String,
        /// The version the host implements.
        version: Version,
    },
    /// Some versions of a package depend on another package.
    Requires {
        /// The depending package.
        package: String,
        /// Its versions concerned, collapsed against the published ones.
        versions: String,
        /// The feature of the depending package that brings the dependency, if any.
        via_feature: Option<String>,
        /// The dependency.
        dependency: String,
        /// The dependency's requirement.
        requirement: String,
        /// A feature requested of the dependency, if the fact is about that feature.
        dependency_feature: Option<String>,
    },
    /// A feature of some versions enables another feature or an optional dependency.
    FeatureEnables {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The feature.
        feature: String,
        /// What it enables: a feature name, or `dep:x` for an optional dependency.
        enables: String,
    },
    /// Plugin mode: some versions of a plugin need a host API the host does not provide.
    NeedsHostApi {
        /// The plugin.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The host API requirement of those versions.
        requirement: String,
        /// What the host provides.
        provided: Version,
    },
    /// No usable version matches a requirement.
    NoVersions {
        /// The package.
        package: String,
        /// The requirement no version matches.
        requirement: String,
    },
    /// Some versions lack a requested feature.
    MissingFeature {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The missing feature.
        feature: String,
    },
    /// Some versions have an unreadable index line or an invalid requirement.
    InvalidEntry {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
    },
    /// Some versions link a native library, which only one package may do.
    Links {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The `links` value.
        library: String,
    },
}

impl Fact {
    pub(crate) fn versions_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::Requires { versions, .. }
            | Self::FeatureEnables { versions, .. }
            | Self::NeedsHostApi { versions, .. }
            | Self::MissingFeature { versions, .. }
            | Self::InvalidEntry { versions, .. }
            | Self::Links { versions, .. } => Some(versions),
            Self::RootRequires { .. } | Self::HostProvides { .. } | Self::NoVersions { .. } => None,
        }
    }

    pub(crate) fn without_versions(&self) -> Self {
        let mut copy = self.clone();
        if let Some(versions) = copy.versions_mut() {
            versions.clear();
        }
        copy
    }

    /// Requirements first, then what packages need, then what is missing.
    pub(crate) fn reading_order(&self) -> u8 {
        match self {
            Self::HostProvides { .. } => 0,
            Self::RootRequires { .. } => 1,
            Self::Requires { .. } | Self::FeatureEnables { .. } => 2,
            Self::NeedsHostApi { .. } => 3,
            Self::Links { .. } => 4,
            Self::MissingFeature { .. } | Self::InvalidEntry { .. } => 5,
            Self::NoVersions { .. } => 6,
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RootRequires {
                package,
                requirement,
                feature,
                origin,
            } => {
                let (subject, verb) = (origin.subject(), origin.verb());
                write!(f, "{subject} {verb} `{package}` {requirement}")?;
                if let Some(feature) = feature {
                    write!(f, " with feature `{feature}`")?;
                }
                Ok(())
            }
            Self::HostProvides { host, version } => {
                write!(f, "this host provides host API {version} (`{host}`)")
            }
            Self::Requires {
                package,
                versions,
                via_feature,
                dependency,
                requirement,
                dependency_feature,
            } => {
                write!(f, "`{package}` {versions}")?;
                match via_feature.as_deref().map(|v| (v, v.strip_prefix("dep:"))) {
                    Some((_, Some(optional))) => {
                        write!(f, " with its optional dependency `{optional}` enabled")?;
                    }
                    Some((feature, None)) => write!(f, " with feature `{feature}`")?,
                    None => {}
                }
                write!(f, " depends on `{dependency}` {requirement}")?;
                if let Some(feature) = dependency_feature {
                    write!(f, " with feature `{feature}`")?;
                }
                Ok(())
            }
            Self::FeatureEnables {
                package,
                versions,
                feature,
                enables,
            } => match enables.strip_prefix("dep:") {
                Some(optional) => write!(
                    f,
                    "feature `{feature}` of `{package}` {versions} enables its optional dependency `{optional}`"
                ),
                None => write!(
                    f,
                    "feature `{feature}` of `{package}` {versions} enables feature `{enables}`"
                ),
            },
            Self::NeedsHostApi {
                package,
                versions,
                requirement,
                provided,
            } => write!(
                f,
                "plugin `{package}` {versions} needs host API {requirement}; this host provides {provided}"
            ),
            Self::NoVersions {
                package,
                requirement,
            } => {
                write!(f, "no usable version of `{package}` matches {requirement}")
            }
            Self::MissingFeature {
                package,
                versions,
                feature,
            } => {
                write!(f, "`{package}` {versions} has no feature `{feature}`")
            }
            Self::InvalidEntry { package, versions } => {
                write!(f, "the index entry of `{package}` {versions} is invalid")
            }
            Self::Links {
                package,
                versions,
                library,
            } => write!(
                f,
                "`{package}` {versions} links the native library `{library}`, which only one package may link"
            ),
        }
    }
}

/// The derivation tree in Wharf's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Derivation {
    /// A fact people can act on.
    Fact(Fact),
    /// A link between a virtual package and its real package: true by construction, not shown.
    Internal,
    /// A conclusion drawn from two causes.
    Derived {
        /// The incompatible terms, phrased with real package names.
        conclusion: Vec<String>,
        /// Set when the same conclusion is used more than once.
        shared_id: Option<usize>,
        /// The two causes.
        causes: Box<(Derivation, Derivation)>,
    },
}

/// Why no solution exists: the structured derivation, the facts it rests on, and hints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NoSolution {
    /// The whole derivation.
    pub derivation: Derivation,
    /// The distinct facts of the derivation, in the order a reader needs them.
    pub facts: Vec<Fact>,
    /// Suggestions, most specific first.
    pub hints: Vec<String>,
}

impl NoSolution {
    /// The explanation as text for people.
    pub fn render(&self) -> String {
        let mut out =
            String::from("no combination of versions satisfies every requirement, because:\n");
        for fact in &self.facts {
            out.push_str("  - ");
            out.push_str(&fact.to_string());
            out.push('\n');
        }
        if !self.hints.is_empty() {
            out.push_str("hints:\n");
            for hint in &self.hints {
                out.push_str("  - ");
                out.push_str(hint);
                out.push('\n');
            }
        }
        out
    }

    /// Every package the facts name, sorted.
    pub fn involved_packages(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .facts
            .iter()
            .flat_map(|fact| match fact {
                Fact::RootRequires { package, .. }
                | Fact::NoVersions { package, .. }
                | Fact::MissingFeature { package, .. }
                | Fact::Links { package, .. }
                | Fact::InvalidEntry { package, .. }
                | Fact::FeatureEnables { package, .. }
                | Fact::NeedsHostApi { package, .. } => vec![package.clone()],
                Fact::HostProvides { host, .. } => vec![host.clone()],
                Fact::Requires {
                    package,
                    dependency,
                    ..
                } => vec![package.clone(), dependency.clone()],
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

//! Verified hints: a suggested change to the root's requirements is shown only when
//! resolving again with it applied succeeds (each check bounded in time, few checks in all);
//! otherwise the explanation says no hint was found.

use std::time::{Duration, Instant};

use wharf_index_format::IndexDependency;

use crate::cancel::Cancellation;
use crate::resolve::resolve_inner;
use crate::{IndexSource, ResolveOptions, RootManifest, RootOrigin};

/// How many changes are tried at most for one failed resolution.
pub(crate) const MAX_CHECKS: usize = 12;
/// How long one check may run.
pub(crate) const CHECK_TIME: Duration = Duration::from_secs(2);

/// A change to the root's requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fix {
    /// Every root requirement on `package` becomes `req` (added when the root has none).
    Require { package: String, req: String },
    /// The root's requirements on `from` name `to` instead.
    Rename { from: String, to: String },
    /// The root's requirements on `package` ask for feature `to` instead of `from`.
    RenameFeature {
        package: String,
        from: String,
        to: String,
    },
    /// The root's requirements on `package` are dropped.
    Remove { package: String },
}

impl Fix {
    /// `root` with this change applied.
    fn apply(&self, root: &RootManifest) -> RootManifest {
        let mut root = root.clone();
        match self {
            Self::Require { package, req } => {
                let mut found = false;
                for dep in &mut root.dependencies {
                    if dep.package_name() == package {
                        dep.req.clone_from(req);
                        found = true;
                    }
                }
                if !found {
                    root.dependencies
                        .push(IndexDependency::new(package.clone(), req.clone()));
                }
            }
            Self::Rename { from, to } => {
                for dep in &mut root.dependencies {
                    if dep.package.as_deref() == Some(from.as_str()) {
                        dep.package = Some(to.clone());
                    } else if dep.package.is_none() && dep.name == *from {
                        dep.name.clone_from(to);
                    }
                }
            }
            Self::RenameFeature { package, from, to } => {
                for dep in &mut root.dependencies {
                    if dep.package_name() == package {
                        for feature in &mut dep.features {
                            if feature == from {
                                feature.clone_from(to);
                            }
                        }
                    }
                }
            }
            Self::Remove { package } => root.dependencies.retain(|d| d.package_name() != package),
        }
        root
    }
}

/// A hint before verification.
#[derive(Debug, Clone)]
pub(crate) enum Hint {
    /// A statement of fact (yanked versions, a missing package), shown as is.
    Note(String),
    /// Ways out, tried in order: the first whose change resolves is shown.
    Suggestion(Vec<(String, Fix)>),
    /// Several packages conflict and only one may stay: `intro`, then the removals that
    /// resolve, each named by its label.
    KeepOne {
        intro: String,
        removals: Vec<(String, Fix)>,
    },
}

/// What a failed resolution is re-run with to check a change.
pub(crate) struct Checker<'a> {
    pub(crate) source: &'a dyn IndexSource,
    pub(crate) root: &'a RootManifest,
    pub(crate) options: &'a ResolveOptions,
    pub(crate) origin: RootOrigin,
    pub(crate) outer: &'a Cancellation,
}

impl Checker<'_> {
    /// The texts of the notes and of the suggestions whose change resolves, in order; "no
    /// hint found" when no suggestion does.
    pub(crate) fn verify(&self, hints: Vec<Hint>) -> Vec<String> {
        let mut checks = 0;
        let mut out: Vec<String> = Vec::new();
        let mut suggested = false;
        let push = |out: &mut Vec<String>, text: String| {
            if !out.contains(&text) {
                out.push(text);
            }
        };
        for hint in hints {
            match hint {
                Hint::Note(text) => push(&mut out, text),
                Hint::Suggestion(alternatives) => {
                    for (text, fix) in alternatives {
                        if checks >= MAX_CHECKS {
                            break;
                        }
                        checks += 1;
                        if self.resolves(&fix) {
                            push(&mut out, text);
                            suggested = true;
                            break;
                        }
                    }
                }
                Hint::KeepOne { intro, removals } => {
                    let mut working = Vec::new();
                    for (label, fix) in removals {
                        if checks >= MAX_CHECKS {
                            break;
                        }
                        checks += 1;
                        if self.resolves(&fix) {
                            working.push(label);
                        }
                    }
                    if !working.is_empty() {
                        let subject = match self.origin {
                            RootOrigin::Requirements => "the requirements",
                            _ => "your manifest",
                        };
                        push(
                            &mut out,
                            format!(
                                "{intro}: keep only one of them; {subject} resolves without {}",
                                working.join(" or without ")
                            ),
                        );
                        suggested = true;
                    }
                }
            }
        }
        if !suggested {
            let subject = match self.origin {
                RootOrigin::Requirements => "the requirements you gave",
                _ => "your manifest's requirements",
            };
            let text = if checks == 0 {
                format!("no hint found: no single change to {subject} suggests itself")
            } else if checks == 1 {
                format!("no hint found: the one change tried on {subject} does not resolve")
            } else {
                format!(
                    "no hint found: none of the {checks} single changes tried on {subject} resolves"
                )
            };
            push(&mut out, text);
        }
        out
    }

    /// Whether resolving with `fix` applied succeeds within [`CHECK_TIME`].
    fn resolves(&self, fix: &Fix) -> bool {
        let limit = Instant::now() + CHECK_TIME;
        let cancellation = Cancellation {
            deadline: Some(self.outer.deadline.map_or(limit, |outer| outer.min(limit))),
            token: self.outer.token.clone(),
        };
        let root = fix.apply(self.root);
        let outcome = resolve_inner(
            self.source,
            &root,
            self.options,
            self.origin,
            cancellation,
            false,
        );
        tracing::debug!(?fix, resolves = outcome.is_ok(), "hint checked");
        outcome.is_ok()
    }
}

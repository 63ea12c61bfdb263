//! Feature-table rules: names, and that every value points at something that exists.

use crate::{DependencyKind, FeatureMap, FormatError, IndexDependency, PublishLimits};

/// crates.io's feature-name rule: non-empty, first character alphanumeric or `_`, then
/// alphanumerics, `_`, `-`, `+` or `.`. Returns why a name breaks it.
pub(crate) fn check_feature_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("the name is empty".to_owned());
    };
    if !(first.is_alphanumeric() || first == '_') {
        return Err(format!(
            "it starts with {first:?}; use a letter, digit or `_`"
        ));
    }
    if let Some(bad) = chars.find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '.')))
    {
        return Err(format!(
            "the character {bad:?} is not allowed; use letters, digits, `_`, `-`, `+` or `.`"
        ));
    }
    Ok(())
}

/// Checks the `[features]` table against the (translated) dependencies: the count, each
/// name, and each value, which must be `dep:OPT`, `DEP/FEAT`, `DEP?/FEAT`, another feature,
/// or an optional dependency. As cargo and crates.io do, `DEP/FEAT` may name a
/// dev-dependency (syn's `test = ["syn-test-suite/all-features"]`): it only matters when the
/// package itself is built with its dev-dependencies, and a dependent's build ignores it.
/// A dev-dependency is never optional, so `dep:DEV` and a bare `DEV` stay refused, as does
/// any value naming a dependency the package does not have.
pub(crate) fn check_features(
    features: &FeatureMap,
    deps: &[IndexDependency],
    limits: &PublishLimits,
) -> Result<(), FormatError> {
    if features.len() > limits.max_features {
        return Err(FormatError::policy(
            "features",
            format!(
                "{} features given; at most {} are allowed",
                features.len(),
                limits.max_features
            ),
        ));
    }
    let usable = |name: &str| {
        deps.iter()
            .filter(|d| d.kind != DependencyKind::Dev && d.name == name)
            .collect::<Vec<_>>()
    };
    for (feature, values) in features {
        let invalid = |reason: String| FormatError::InvalidFeature {
            feature: feature.clone(),
            reason,
        };
        check_feature_name(feature).map_err(&invalid)?;
        for value in values {
            if let Some(dep) = value.strip_prefix("dep:") {
                if !usable(dep).iter().any(|d| d.optional) {
                    return Err(invalid(format!(
                        "`{value}` names `{dep}`, which is not an optional dependency"
                    )));
                }
            } else if let Some((dep, dep_feature)) = value.split_once('/') {
                let dep = dep.strip_suffix('?').unwrap_or(dep);
                if !deps.iter().any(|d| d.name == dep) {
                    return Err(invalid(format!(
                        "`{value}` names `{dep}`, which is not a dependency"
                    )));
                }
                check_feature_name(dep_feature)
                    .map_err(|reason| invalid(format!("`{value}`: {reason}")))?;
            } else if !features.contains_key(value) && !usable(value).iter().any(|d| d.optional) {
                return Err(invalid(format!(
                    "`{value}` is neither a feature nor an optional dependency"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, optional: bool, kind: DependencyKind) -> IndexDependency {
        IndexDependency {
            name: name.to_owned(),
            req: "^1".to_owned(),
            features: vec![],
            optional,
            default_features: true,
            target: None,
            kind,
            registry: None,
            package: None,
        }
    }

    fn table(entries: &[(&str, &[&str])]) -> FeatureMap {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn accepts_every_reference_form() {
        let deps = [
            dep("opt", true, DependencyKind::Normal),
            dep("req", false, DependencyKind::Build),
            dep("syn-test-suite", false, DependencyKind::Dev),
        ];
        let features = table(&[
            ("default", &["std", "opt"]),
            ("std", &["req/std", "opt?/std"]),
            ("test", &["syn-test-suite/all-features"]),
            ("only-dep", &["dep:opt"]),
            ("empty", &[]),
        ]);
        check_features(&features, &deps, &PublishLimits::default()).unwrap();
    }

    #[test]
    fn refuses_dangling_references_naming_the_feature() {
        let deps = [
            dep("opt", true, DependencyKind::Normal),
            dep("req", false, DependencyKind::Normal),
            dep("devonly", false, DependencyKind::Dev),
        ];
        for (features, named) in [
            (table(&[("a", &["missing"])]), "`missing`"),
            (table(&[("a", &["dep:req"])]), "`dep:req`"),
            (table(&[("a", &["missing/x"])]), "`missing`"),
            (table(&[("a", &["dep:devonly"])]), "`dep:devonly`"),
            (table(&[("a", &["devonly"])]), "`devonly`"),
            (table(&[("a", &["req"])]), "`req`"),
            (table(&[("a b", &[])]), "' '"),
            (table(&[("a", &["req/"])]), "`req/`"),
        ] {
            let err = check_features(&features, &deps, &PublishLimits::default()).unwrap_err();
            assert_eq!(err.code(), "InvalidFeature");
            assert!(err.to_string().contains(named), "{err} should name {named}");
        }
    }

    #[test]
    fn the_feature_count_is_limited() {
        let limits = PublishLimits {
            max_features: 1,
            ..PublishLimits::default()
        };
        let err = check_features(&table(&[("a", &[]), ("b", &[])]), &[], &limits).unwrap_err();
        assert_eq!(err.code(), "PolicyViolation");
    }
}

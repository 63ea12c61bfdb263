//! Index file paths, exactly as cargo's `make_dep_path` computes them.

/// The path of a package's file inside the index tree, always lowercase:
/// `1/{n}`, `2/{n}`, `3/{c}/{n}` or `{ab}/{cd}/{n}`.
///
/// Names are ASCII (enforced by [`crate::PackageName`]); for other input the slicing falls
/// back to characters so it never panics.
pub fn index_path(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let prefix = prefix_path(&lower);
    format!("{prefix}/{lower}")
}

/// The directory prefix of a name as cargo's `{prefix}` marker expands it (case kept):
/// `1`, `2`, `3/{c}` or `{ab}/{cd}`.
pub fn prefix_path(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", chars[0]),
        _ => {
            let first: String = chars[0..2].iter().collect();
            let second: String = chars[2..4].iter().collect();
            format!("{first}/{second}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_cargo() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("cargo"), "ca/rg/cargo");
        assert_eq!(index_path("serde_json"), "se/rd/serde_json");
        assert_eq!(index_path("EaCase"), "ea/ca/eacase");
        assert_eq!(prefix_path("EaCase"), "Ea/Ca");
        assert_eq!(prefix_path("Abc"), "3/A");
    }
}

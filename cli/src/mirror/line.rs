//! The fields of an index line a sync reads (name, version, `cksum`), borrowed from the line:
//! the other fields are skipped without being built into a JSON tree, since every line of
//! every file a sync copies passes through here.

use std::borrow::Cow;

/// An index line's name, version and `cksum`; a field that is missing is empty.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct LineFields<'a> {
    #[serde(borrow, default)]
    pub(crate) name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) vers: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) cksum: Cow<'a, str>,
}

impl<'a> LineFields<'a> {
    /// The fields of `line`; `None` when it is not a JSON object with string fields there.
    pub(crate) fn parse(line: &'a str) -> Option<Self> {
        serde_json::from_str(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::LineFields;

    #[test]
    fn the_fields_are_read_and_the_rest_skipped() {
        let line = r#"{"name":"aa","vers":"1.0.0","deps":[{"name":"x","req":"^1"}],"cksum":"ab","features":{},"yanked":false}"#;
        let fields = LineFields::parse(line).expect("a line");
        assert_eq!(
            (&*fields.name, &*fields.vers, &*fields.cksum),
            ("aa", "1.0.0", "ab")
        );
        let missing = LineFields::parse(r#"{"name":"aa"}"#).expect("a line");
        assert_eq!((&*missing.vers, &*missing.cksum), ("", ""));
        assert!(LineFields::parse("not json").is_none());
        assert!(LineFields::parse(r#"{"name":1}"#).is_none());
    }
}

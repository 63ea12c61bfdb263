//! What a copy made from a bundle serves of each verified index file: only the lines of the
//! versions the bundle carries (cargo must never pick a version whose blob the copy lacks).
//! A file so cut is not the one the origin's signed snapshot names, so `import` keeps the
//! origin's whole file beside it (`origin/<index path>`, served at
//! `/index/.wharf/origin/<index path>`), which proves it as a partial `wharf mirror sync`
//! copy's cut files are proven. The whole file is the recorded index file (the bundle keeps
//! index files byte for byte) or, for a bundle exported from a partial mirror, the whole file
//! that mirror served beside its cut file; either way a member of the signed `MANIFEST`,
//! checked against the origin's signed snapshot before it is written.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, bail};
use wharf_client::verify::ORIGIN_FILES_PATH;

use super::export::http_member;
use super::format::{Release, sha256_hex};
use super::open::Opened;

/// Index path → the `(version, cksum)` of each carried release of its package.
pub(crate) type Carried<'r> = BTreeMap<String, BTreeSet<(&'r str, &'r str)>>;

/// The carried releases by index file.
pub(crate) fn carried(releases: &[Release]) -> Carried<'_> {
    let mut carried: Carried<'_> = BTreeMap::new();
    for release in releases {
        carried
            .entry(wharf_index_format::index_path(&release.name))
            .or_default()
            .insert((release.version.as_str(), release.cksum.as_str()));
    }
    carried
}

/// The lines of the index file `text` whose version and `cksum` are `wanted`, in order.
pub(crate) fn carried_lines<'t>(text: &'t str, wanted: &BTreeSet<(&str, &str)>) -> Vec<&'t str> {
    text.lines()
        .filter(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            let field = |key: &str| entry[key].as_str().unwrap_or_default();
            wanted.contains(&(field("vers"), field("cksum")))
        })
        .collect()
}

/// One index file as an imported copy serves it.
pub(crate) struct Served<'a> {
    /// Its index path (`3/a/abc`).
    pub(crate) path: String,
    /// The lines of the carried versions.
    pub(crate) bytes: Cow<'a, [u8]>,
    /// The origin's whole file, when the served bytes are not it.
    pub(crate) whole: Option<&'a [u8]>,
}

impl Opened {
    /// Every verified index file as the imported copy serves it, with the origin's whole
    /// file of each one cut; a whole file the origin's signed snapshot does not name (an
    /// altered bundle) refuses the bundle, naming the member.
    pub(crate) fn served_files(&self, file: &Path) -> anyhow::Result<Vec<Served<'_>>> {
        let index_path = &self.manifest.index_path;
        let signed = super::snapshot::signed_files(self.members(), index_path)?;
        let carried = carried(&self.manifest.releases);
        let mut served = Vec::new();
        for (path, recorded) in self.index_files() {
            let origin_member = http_member(&format!("{index_path}{ORIGIN_FILES_PATH}/{path}"));
            let (member, whole) = match self.members().get(&origin_member) {
                Some(whole) => (origin_member, whole.as_slice()),
                None => (http_member(&format!("{index_path}{path}")), recorded),
            };
            let text = std::str::from_utf8(recorded).with_context(|| {
                format!(
                    "bundle `{}`: member `{member}` is not UTF-8",
                    file.display()
                )
            })?;
            let lines = carried_lines(text, carried.get(&path).unwrap_or(&BTreeSet::new()));
            if lines.is_empty() {
                continue;
            }
            let mut bytes = lines.join("\n").into_bytes();
            bytes.push(b'\n');
            if bytes == whole {
                served.push(Served {
                    path,
                    bytes: Cow::Borrowed(whole),
                    whole: None,
                });
                continue;
            }
            if let Some(signed) = &signed
                && signed.get(&path) != Some(&sha256_hex(whole))
            {
                bail!(
                    "bundle `{}`: member `{member}` is not the whole file of `{path}` that the origin's signed snapshot names, so it cannot prove the copy's cut file: the bundle was altered; refuse it",
                    file.display()
                );
            }
            served.push(Served {
                path,
                bytes: Cow::Owned(bytes),
                whole: Some(whole),
            });
        }
        Ok(served)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str, cksum: &str) -> Release {
        Release {
            name: "aa".to_owned(),
            version: version.to_owned(),
            cksum: cksum.to_owned(),
        }
    }

    #[test]
    fn only_the_lines_of_carried_versions_are_served_in_order() {
        let text = concat!(
            "{\"name\":\"aa\",\"vers\":\"1.0.0\",\"cksum\":\"11\"}\n",
            "{\"name\":\"aa\",\"vers\":\"2.0.0\",\"cksum\":\"22\"}\n",
            "{\"name\":\"aa\",\"vers\":\"3.0.0\",\"cksum\":\"33\"}\n",
        );
        let releases = [release("3.0.0", "33"), release("1.0.0", "11")];
        let carried = carried(&releases);
        let lines = carried_lines(text, &carried["2/aa"]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("1.0.0") && lines[1].contains("3.0.0"));
        // Another cksum for a carried version is not its line.
        let other = [release("2.0.0", "99")];
        assert!(carried_lines(text, &super::carried(&other)["2/aa"]).is_empty());
    }
}

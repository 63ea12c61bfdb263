//! The bundle file: a zstd-compressed tar holding `MANIFEST`, `MANIFEST.sig` and the members
//! the manifest lists. The manifest is text, one item a line:
//!
//! ```text
//! wharf-bundle 1
//! origin http://registry.example:8080
//! index /index/
//! selection all                     (or: selection packages NAME…)
//! tree-size 12
//! previous <sha256 of an earlier bundle's MANIFEST>   (only with --since)
//! release <name> <version> <cksum>  (one per version carried)
//! member <sha256> <size> <path>     (one per member)
//! ```
//!
//! `MANIFEST.sig` is the exporter's ed25519 signature (base64) over the manifest's exact bytes
//! under a domain tag (`wharf_trust::bundle`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wharf_trust::UtcTime;

/// The manifest's member name.
pub(crate) const MANIFEST: &str = "MANIFEST";
/// The signature's member name.
pub(crate) const SIGNATURE: &str = "MANIFEST.sig";
/// The largest bundle, uncompressed, that import reads (4 GiB).
const MAX_UNPACKED: u64 = 4 << 30;

/// Which packages a bundle's registry material was verified for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// Every package of the registry.
    All,
    /// These packages.
    Packages(Vec<String>),
}

/// One version a bundle carries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Release {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) cksum: String,
}

/// The parsed `MANIFEST`.
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    /// The upstream's origin (`scheme://host[:port]`), as `config.json` names it.
    pub(crate) origin: String,
    /// The path of the upstream's sparse index (`/index/`).
    pub(crate) index_path: String,
    pub(crate) chosen: Chosen,
    pub(crate) tree_size: u64,
    /// When the exporter verified the registry: the time the registry's timestamp is judged
    /// at on import, so a bundle can cross an air gap after the timestamp expired.
    pub(crate) exported: UtcTime,
    pub(crate) previous: Option<String>,
    pub(crate) releases: Vec<Release>,
    /// Path → (sha256, size).
    pub(crate) members: BTreeMap<String, (String, u64)>,
}

/// SHA-256 as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Manifest {
    /// The manifest's text.
    pub(crate) fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut text = format!(
            "wharf-bundle 1\norigin {}\nindex {}\n",
            self.origin, self.index_path
        );
        match &self.chosen {
            Chosen::All => text.push_str("selection all\n"),
            Chosen::Packages(names) => {
                let _ = writeln!(text, "selection packages {}", names.join(" "));
            }
        }
        let _ = writeln!(text, "tree-size {}", self.tree_size);
        let _ = writeln!(text, "exported {}", self.exported);
        if let Some(previous) = &self.previous {
            let _ = writeln!(text, "previous {previous}");
        }
        for release in &self.releases {
            let _ = writeln!(
                text,
                "release {} {} {}",
                release.name, release.version, release.cksum
            );
        }
        for (path, (hash, size)) in &self.members {
            let _ = writeln!(text, "member {hash} {size} {path}");
        }
        text
    }

    /// Parses a manifest's text.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let mut lines = text.lines();
        if lines.next() != Some("wharf-bundle 1") {
            bail!(
                "its first line is not `wharf-bundle 1`: this is not a Wharf bundle of a version this wharf reads"
            );
        }
        let mut manifest = Self {
            origin: String::new(),
            index_path: String::new(),
            chosen: Chosen::All,
            tree_size: 0,
            exported: UtcTime::from_unix(0)?,
            previous: None,
            releases: Vec::new(),
            members: BTreeMap::new(),
        };
        let mut exported = false;
        for line in lines {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            let fields: Vec<&str> = rest.split(' ').collect();
            match (key, fields.as_slice()) {
                ("origin", [origin]) => (*origin).clone_into(&mut manifest.origin),
                ("index", [path]) => (*path).clone_into(&mut manifest.index_path),
                ("selection", ["all"]) => manifest.chosen = Chosen::All,
                ("selection", ["packages", names @ ..]) => {
                    manifest.chosen =
                        Chosen::Packages(names.iter().map(|name| (*name).to_owned()).collect());
                }
                ("tree-size", [size]) => {
                    manifest.tree_size = size
                        .parse()
                        .with_context(|| format!("its line `{line}` has no number"))?;
                }
                ("exported", [time]) => {
                    manifest.exported = UtcTime::parse(time, "exported time")
                        .with_context(|| format!("its line `{line}` has no time"))?;
                    exported = true;
                }
                ("previous", [hash]) => manifest.previous = Some((*hash).to_owned()),
                ("release", [name, version, cksum]) => manifest.releases.push(Release {
                    name: (*name).to_owned(),
                    version: (*version).to_owned(),
                    cksum: (*cksum).to_owned(),
                }),
                ("member", [hash, size, path]) => {
                    let size = size
                        .parse()
                        .with_context(|| format!("its line `{line}` has no size"))?;
                    manifest
                        .members
                        .insert((*path).to_owned(), ((*hash).to_owned(), size));
                }
                _ => bail!("its line `{line}` is not one a manifest has"),
            }
        }
        if manifest.origin.is_empty() || manifest.index_path.is_empty() || !exported {
            bail!("it names no `origin`, `index` or `exported` time");
        }
        Ok(manifest)
    }
}

/// Writes the bundle to `out` (through a temporary file renamed into place).
pub(crate) fn write_bundle(
    out: &Path,
    manifest: &[u8],
    signature: &str,
    members: &BTreeMap<String, Vec<u8>>,
) -> anyhow::Result<()> {
    let dir = out
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in `{}`", dir.display()))?;
    let encoder = zstd::Encoder::new(temp.as_file(), 19).context("starting zstd")?;
    let mut tar = tar::Builder::new(encoder);
    let mut add = |path: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, bytes)
            .with_context(|| format!("adding `{path}` to the bundle"))
    };
    add(MANIFEST, manifest)?;
    add(SIGNATURE, signature.as_bytes())?;
    for (path, bytes) in members {
        add(path, bytes)?;
    }
    let encoder = tar.into_inner().context("finishing the tar stream")?;
    encoder.finish().context("finishing zstd")?;
    let mut permissions = temp
        .as_file()
        .metadata()
        .context("reading the bundle's metadata")?
        .permissions();
    // A bundle is meant to be carried and read by others: not the temporary file's 0600.
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o644);
    temp.as_file()
        .set_permissions(permissions)
        .with_context(|| format!("setting the mode of `{}`", out.display()))?;
    temp.persist(out)
        .with_context(|| format!("writing `{}`", out.display()))?;
    Ok(())
}

/// Reads every member of the bundle at `file` into memory.
pub(crate) fn read_bundle(file: &Path) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let bytes = std::fs::File::open(file)
        .with_context(|| format!("cannot open the bundle `{}`", file.display()))?;
    let decoder = zstd::Decoder::new(bytes)
        .with_context(|| format!("`{}` is not a zstd-compressed bundle", file.display()))?;
    let mut archive = tar::Archive::new(decoder.take(MAX_UNPACKED));
    let mut members = BTreeMap::new();
    let entries = archive
        .entries()
        .with_context(|| format!("`{}` is not a bundle (tar + zstd)", file.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| {
            format!(
                "`{}` is damaged: its tar stream ends early or is corrupt",
                file.display()
            )
        })?;
        if !entry.header().entry_type().is_file() {
            bail!(
                "`{}` holds a member that is not a regular file",
                file.display()
            );
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut body = Vec::new();
        entry
            .read_to_end(&mut body)
            .with_context(|| format!("`{}` is damaged: reading member `{path}`", file.display()))?;
        if members.insert(path.clone(), body).is_some() {
            bail!("`{}` holds member `{path}` twice", file.display());
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_through_its_text() {
        let mut members = BTreeMap::new();
        members.insert(
            "http/api/wharf/v1/log/leaves?start=0&end=3".to_owned(),
            ("ab".repeat(32), 12),
        );
        let manifest = Manifest {
            origin: "http://127.0.0.1:9".to_owned(),
            index_path: "/index/".to_owned(),
            chosen: Chosen::Packages(vec!["aa".to_owned(), "bb".to_owned()]),
            tree_size: 3,
            exported: UtcTime::from_unix(1_790_000_000).unwrap(),
            previous: Some("cd".repeat(32)),
            releases: vec![Release {
                name: "aa".to_owned(),
                version: "1.0.0".to_owned(),
                cksum: "ef".repeat(32),
            }],
            members,
        };
        let text = manifest.to_text();
        let parsed = Manifest::parse(&text).expect("parses");
        assert_eq!(parsed.to_text(), text);
        assert_eq!(parsed.chosen, manifest.chosen);
        assert!(Manifest::parse("wharf-bundle 2\n").is_err());
    }
}

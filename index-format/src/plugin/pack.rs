//! The deterministic plugin tarball: the same files give the same bytes on every machine.

use std::io::Write as _;

use flate2::Compression;

/// One file to pack: its path relative to the package root (with `/`), its bytes and
/// whether it is executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFile {
    /// Path relative to the package root, `/`-separated.
    pub path: String,
    /// The file's content.
    pub data: Vec<u8>,
    /// Whether any execute bit was set (packed as 0755, else 0644).
    pub executable: bool,
}

/// The modification time of every entry: 1980-01-01T00:00:00Z, as `SOURCE_DATE_EPOCH`
/// tooling uses for reproducible archives.
pub const PACK_MTIME: u64 = 315_532_800;

/// Packs `files` under `root/` (`{name}-{version}`) as a gzip tarball: entries sorted by
/// path, ustar headers with mtime [`PACK_MTIME`], modes 0644/0755, uid/gid 0 and empty
/// owner names, no directory entries, gzip without a name or time. The output depends only
/// on the paths, contents and executable flags.
pub fn pack_plugin(root: &str, mut files: Vec<PackFile>) -> Vec<u8> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut builder = tar::Builder::new(Vec::new());
    for file in &files {
        let mut header = tar::Header::new_ustar();
        header.set_size(u64::try_from(file.data.len()).expect("a length fits in u64"));
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_mtime(PACK_MTIME);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("").expect("an empty name fits");
        header.set_groupname("").expect("an empty name fits");
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(
                &mut header,
                format!("{root}/{}", file.path),
                file.data.as_slice(),
            )
            .expect("writing to memory cannot fail");
    }
    let tar_bytes = builder.into_inner().expect("writing to memory cannot fail");
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    gzip.write_all(&tar_bytes)
        .expect("writing to memory cannot fail");
    gzip.finish().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str, executable: bool) -> PackFile {
        PackFile {
            path: path.to_owned(),
            data: data.as_bytes().to_vec(),
            executable,
        }
    }

    #[test]
    fn the_order_of_the_input_does_not_matter() {
        let a = pack_plugin(
            "p-1.0.0",
            vec![
                file("b.txt", "b", false),
                file("a/run.sh", "#!/bin/sh\n", true),
            ],
        );
        let b = pack_plugin(
            "p-1.0.0",
            vec![
                file("a/run.sh", "#!/bin/sh\n", true),
                file("b.txt", "b", false),
            ],
        );
        assert_eq!(a, b);
        let c = pack_plugin(
            "p-1.0.0",
            vec![
                file("a/run.sh", "#!/bin/sh\n", false),
                file("b.txt", "b", false),
            ],
        );
        assert_ne!(a, c, "the executable flag is part of the package");
    }
}

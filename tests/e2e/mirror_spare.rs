//! `wharf mirror sync` keeps the copy before the served one as a spare and brings it up to
//! date on the next sync: only the index files that changed are written, the others stay the
//! same files (inodes); a spare a killed sync left half-updated is never reused, and the next
//! sync serves exactly the upstream's files.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};
use wharf_index_format::index_path;

fn sync(registry: &TestRegistry, mirror: &Path) {
    let output = Command::new(wharf_binary())
        .args(["mirror", "sync", "--from"])
        .arg(registry.index_url())
        .arg("--data")
        .arg(mirror)
        .output()
        .expect("wharf runs");
    assert!(output.status.success(), "{}", describe(&output));
}

/// The `copy-*` directories of the mirror, by name.
fn copies(mirror: &Path) -> TestResult<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(mirror)?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("copy-"))
        .map(|entry| entry.path())
        .collect();
    found.sort();
    Ok(found)
}

/// The copy `current` points at and the spare beside it.
fn served_and_spare(mirror: &Path) -> TestResult<(PathBuf, PathBuf)> {
    let served = std::fs::canonicalize(mirror.join("current"))?;
    let all = copies(mirror)?;
    assert_eq!(all.len(), 2, "the served copy and one spare: {all:?}");
    let spare = all
        .into_iter()
        .find(|copy| std::fs::canonicalize(copy).ok().as_ref() != Some(&served))
        .ok_or("no spare copy")?;
    Ok((served, spare))
}

/// Every file under `dir` (relative path → bytes), but dot files.
fn tree(dir: &Path) -> TestResult<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at)?.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(dir)?.to_string_lossy().into_owned();
                files.insert(name, std::fs::read(&path)?);
            }
        }
    }
    Ok(files)
}

/// Every index file's inode (relative path → inode).
fn inodes(copy: &Path) -> TestResult<BTreeMap<String, u64>> {
    let index = copy.join("index");
    let mut found = BTreeMap::new();
    for name in tree(&index)?.into_keys() {
        let inode = std::fs::metadata(index.join(&name))?.ino();
        found.insert(name, inode);
    }
    Ok(found)
}

/// The copy served holds exactly what a fresh sync of the upstream into an empty mirror
/// holds: the same index files and snapshot bins.
fn assert_same_as_fresh(registry: &TestRegistry, mirror: &Path, fresh: &Path) -> TestResult {
    let _ = std::fs::remove_dir_all(fresh);
    sync(registry, fresh);
    for part in ["index", "snapshot"] {
        let held = tree(&mirror.join("current").join(part))?;
        let expected = tree(&fresh.join("current").join(part))?;
        assert_eq!(
            held.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "the files of `{part}/`"
        );
        assert!(held == expected, "the bytes of `{part}/`");
    }
    Ok(())
}

/// A mirror of `upstream` after `names` (version 1.0.0 each) were published and synced, then
/// `cc` 1.1.0 published and synced again: the second sync had no spare, so it made a new copy
/// and kept the one served before as the spare. Returns the temporary directory and the
/// mirror's data directory inside it.
fn synced_twice(
    upstream: &TestRegistry,
    names: &[&str],
) -> TestResult<(tempfile::TempDir, PathBuf)> {
    for name in names {
        upstream.publish_as_admin(name, "1.0.0");
    }
    upstream.settle();
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror");
    sync(upstream, &mirror);
    upstream.publish_as_admin("cc", "1.1.0");
    upstream.settle();
    sync(upstream, &mirror);
    Ok((dir, mirror))
}

#[test]
fn an_incremental_sync_brings_the_spare_up_to_date_writing_only_the_changed_files() -> TestResult {
    let upstream = TestRegistry::start();
    let (dir, mirror) = synced_twice(&upstream, &["aa", "bbb", "cc", "dddd", "eeeee"])?;
    let (served, spare) = served_and_spare(&mirror)?;
    let spare_index_inode = std::fs::metadata(spare.join("index"))?.ino();
    let (spare_files, served_files) = (inodes(&spare)?, inodes(&served)?);

    // A new version, a new package and a yanked version.
    upstream.publish_as_admin("dddd", "1.1.0");
    upstream.publish_as_admin("ff", "1.0.0");
    upstream.yank_as_admin("aa", "1.0.0");
    upstream.settle();
    sync(&upstream, &mirror);

    // The spare became the copy served, under a new name; the copy served before is the
    // spare now.
    let now = std::fs::canonicalize(mirror.join("current"))?;
    assert_eq!(
        std::fs::metadata(now.join("index"))?.ino(),
        spare_index_inode
    );
    assert_ne!(now, spare);
    assert!(!spare.exists());
    assert_eq!(served_and_spare(&mirror)?, (now.clone(), served));

    // Only the files that changed since the spare's sync were written: `cc` (in the sync
    // before), `dddd`, `ff` and `aa`; the unchanged ones are the same files as before.
    let now_files = inodes(&now)?;
    let written: BTreeSet<&str> = now_files
        .iter()
        .filter(|(path, inode)| spare_files.get(*path) != Some(*inode))
        .map(|(path, _)| path.as_str())
        .collect();
    let changed: Vec<String> = ["aa", "cc", "dddd", "ff"].map(index_path).into();
    let mut expected: BTreeSet<&str> = changed.iter().map(String::as_str).collect();
    expected.insert("config.json"); // written whole by every sync
    assert_eq!(written, expected, "the index files written");
    for name in ["bbb", "cc", "eeeee"] {
        let path = index_path(name);
        assert_eq!(now_files.get(&path), served_files.get(&path), "{path}");
    }
    let aa = std::fs::read_to_string(now.join("index").join(index_path("aa")))?;
    assert!(aa.contains(r#""yanked":true"#), "{aa}");
    assert_same_as_fresh(&upstream, &mirror, &dir.path().join("fresh"))?;
    Ok(())
}

#[test]
fn a_spare_left_half_updated_by_a_killed_sync_is_not_reused() -> TestResult {
    let upstream = TestRegistry::start();
    let (dir, mirror) = synced_twice(&upstream, &["aa", "bbb", "cc"])?;
    let (_, spare) = served_and_spare(&mirror)?;

    // What a sync killed while updating the spare leaves: the mark, a file removed, a
    // temporary file and a file no upstream serves.
    std::fs::write(spare.join(".unfinished"), b"")?;
    std::fs::remove_file(spare.join("index").join(index_path("bbb")))?;
    std::fs::write(spare.join("index/2/.tmp-aa"), b"half")?;
    std::fs::write(spare.join("index").join(index_path("zz")), b"{}\n")?;

    upstream.publish_as_admin("dd", "1.0.0");
    upstream.settle();
    sync(&upstream, &mirror);
    let (served, _) = served_and_spare(&mirror)?;
    assert!(!spare.exists(), "a marked spare is removed");
    // Nothing the killed run left is served: the copy was made anew.
    assert!(!served.join("index/2/.tmp-aa").exists());
    assert!(!served.join("index").join(index_path("zz")).exists());
    assert!(!served.join(".unfinished").exists());
    assert_same_as_fresh(&upstream, &mirror, &dir.path().join("fresh"))?;

    // The next sync reuses the spare that sync left, and serves the upstream's files too.
    let (_, spare) = served_and_spare(&mirror)?;
    let spare_index_inode = std::fs::metadata(spare.join("index"))?.ino();
    upstream.publish_as_admin("aa", "1.1.0");
    upstream.settle();
    sync(&upstream, &mirror);
    let served = std::fs::canonicalize(mirror.join("current"))?;
    assert_eq!(
        std::fs::metadata(served.join("index"))?.ino(),
        spare_index_inode
    );
    assert!(!served.join(".unfinished").exists());
    assert_same_as_fresh(&upstream, &mirror, &dir.path().join("fresh"))?;
    Ok(())
}

//! Names the commit the binary is built from, for `wharf --version`: `WHARF_COMMIT` is
//! `git rev-parse --short=12 HEAD` of the source tree, the variable of the same name when the
//! builder sets it (a build from a source archive), or `unknown` outside git. No network.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=WHARF_COMMIT");
    let commit = std::env::var("WHARF_COMMIT")
        .ok()
        .filter(|commit| !commit.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=WHARF_COMMIT={}", commit.trim());
}

/// The short hash of `HEAD`, and the files whose change means a new commit is checked out.
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD names the branch; the branch's ref file (or packed-refs) names the commit.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        rerun_if_changed(&head);
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"])
        .and_then(|branch| git(&["rev-parse", "--git-path", &branch]))
    {
        rerun_if_changed(&reference);
    }
    if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
        rerun_if_changed(&packed);
    }
    Some(commit)
}

fn rerun_if_changed(path: &str) {
    let path = PathBuf::from(path);
    let path = if path.is_relative() {
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join(path)
    } else {
        path
    };
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// One line of `git ARGS` run in the crate's directory, when git is there and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR")?)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

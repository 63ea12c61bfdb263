//! Pushing the export to other repositories, and packing it, with the `git` program: it
//! speaks every transport (file, HTTPS with credential helpers, SSH) the operator set up.

use std::path::Path;
use std::process::Command;

use crate::error::GitIndexError;

/// The refspec pushed: every branch, forced, so a squashed `main` replaces the old one and
/// the `snapshot-…` branches follow.
const REFSPEC: &str = "+refs/heads/*:refs/heads/*";

/// `git push --force` of every branch of the bare repository at `repo` to `remote`.
/// Never prompts for credentials.
pub fn push(repo: &Path, remote: &str) -> Result<(), GitIndexError> {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["push", "--quiet", "--porcelain", remote, REFSPEC])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|source| GitIndexError::Push {
            remote: remote.to_owned(),
            detail: format!("cannot run `git`: {source}"),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let detail = stderr
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map_or_else(
            || format!("git exited with {}", output.status),
            str::to_owned,
        );
    Err(GitIndexError::Push {
        remote: remote.to_owned(),
        detail,
    })
}

/// `git gc --auto`: packs the loose objects the commits wrote once there are many (git's
/// own threshold), so fetches stay fast. Failures are logged only.
pub fn pack_when_needed(repo: &Path) {
    match Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["gc", "--auto", "--quiet"])
        .output()
    {
        Ok(output) if output.status.success() => {}
        Ok(output) => tracing::warn!(
            repo = %repo.display(),
            stderr = %String::from_utf8_lossy(&output.stderr).trim(),
            "git gc --auto failed on the git index"
        ),
        Err(error) => {
            tracing::warn!(repo = %repo.display(), %error, "cannot run `git gc` on the git index");
        }
    }
}

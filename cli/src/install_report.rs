//! Opt-in install reports: after a successful `wharf install`, `update` or `remove`, send
//! the set now in use to the registry (`POST /api/wharf/v1/install-reports`), which counts
//! packages installed together for its recommendations.
//!
//! Off unless the user opts in for a directory with `--report-installs`, which keeps a random
//! id in `DIR/.wharf/report-id`; later runs in DIR report while that file exists, and
//! `--no-report-installs` deletes it. The report carries that id, the host API version and
//! the packages (names and versions), nothing else; the token goes with it only when the
//! run uses one (so the registry can mark the user's reviews as verified installs). A report
//! that cannot be sent is a warning: the install itself has already succeeded.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use wharf_client::install::{InstallConfig, InstallDir, InstalledPackage};

/// Where the install id is kept, relative to the install directory.
pub(crate) const ID_FILE: &str = ".wharf/report-id";

/// How long sending a report may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the user chose on this run's command line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReportChoice {
    /// `--report-installs`: start (or keep) reporting from this directory.
    pub(crate) opt_in: bool,
    /// `--no-report-installs`: stop, and forget the id.
    pub(crate) opt_out: bool,
}

/// Where and how to send a report.
pub(crate) struct ReportTarget<'a> {
    /// The token the run used, if any.
    pub(crate) token: Option<&'a str>,
    /// Extra CA certificates the run trusts.
    pub(crate) ca_certs: &'a [PathBuf],
}

/// The directory's install id: read, or made (128 random bits as 32 hexadecimal digits)
/// when `create` is set; `None` when reporting is off for it.
fn install_id(dir: &Path, create: bool) -> anyhow::Result<Option<String>> {
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == ErrorKind::NotFound && create => {
            let id = format!("{:032x}", rand::random::<u128>());
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            std::fs::write(&path, format!("{id}\n"))
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            Ok(Some(id))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// The report endpoint of the registry serving `index_url` (`sparse+https://host/index/`
/// → `https://host/api/wharf/v1/install-reports`).
fn endpoint(index_url: &str) -> anyhow::Result<String> {
    let base = index_url.strip_prefix("sparse+").unwrap_or(index_url);
    let base = base.trim_end_matches('/');
    let base = base.strip_suffix("/index").unwrap_or(base);
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("the index URL `{index_url}` is not an http(s) registry");
    }
    Ok(format!("{base}/api/wharf/v1/install-reports"))
}

/// Sends the report and returns the URL it went to; `Ok(None)` when reporting is off for
/// the directory.
fn send(
    dir: &Path,
    choice: ReportChoice,
    installed: &[InstalledPackage],
    target: &ReportTarget<'_>,
) -> anyhow::Result<Option<String>> {
    let Some(id) = install_id(dir, choice.opt_in)? else {
        return Ok(None);
    };
    let layout = InstallDir::new(dir);
    let config = InstallConfig::read(&layout.config_path())?
        .with_context(|| format!("`{}` is missing", layout.config_path().display()))?;
    let url = endpoint(&config.index_url)?;
    let body = serde_json::json!({
        "install_id": id,
        "host_api": config.host_api.to_string(),
        "packages": installed
            .iter()
            .map(|p| serde_json::json!({ "name": p.name, "version": p.version.to_string() }))
            .collect::<Vec<_>>(),
    });
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let mut client = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")));
    for file in target.ca_certs {
        let pem = std::fs::read(file)
            .with_context(|| format!("cannot read the CA certificate `{}`", file.display()))?;
        client = client.add_root_certificate(
            reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("`{}` is not a PEM certificate", file.display()))?,
        );
    }
    let mut request = client.build()?.post(&url).json(&body);
    if let Some(token) = target.token {
        request = request.header(reqwest::header::AUTHORIZATION, token);
    }
    let response = request
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().unwrap_or_default();
        bail!("{url} answered {status}: {}", text.trim());
    }
    Ok(Some(url))
}

/// After a successful run: forgets the id on `--no-report-installs`, otherwise reports the
/// set when reporting is on for the directory. Never fails the run: problems are warnings.
pub(crate) fn after_success(
    dir: &Path,
    choice: ReportChoice,
    installed: &[InstalledPackage],
    target: &ReportTarget<'_>,
) {
    if choice.opt_out {
        match std::fs::remove_file(dir.join(ID_FILE)) {
            Ok(()) => eprintln!(
                "install reports are off for `{}` (its id is deleted)",
                dir.display()
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => eprintln!(
                "warning: cannot delete `{}`: {e}; delete it to stop install reports",
                dir.join(ID_FILE).display()
            ),
        }
        return;
    }
    match send(dir, choice, installed, target) {
        Ok(Some(url)) => eprintln!(
            "reported {} installed package(s) to {url} (--no-report-installs stops this)",
            installed.len()
        ),
        Ok(None) => {}
        Err(error) => eprintln!("warning: the install report was not sent: {error:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn the_endpoint_is_next_to_the_index() {
        assert_eq!(
            endpoint("sparse+http://127.0.0.1:8080/index/").unwrap(),
            "http://127.0.0.1:8080/api/wharf/v1/install-reports"
        );
        assert_eq!(
            endpoint("sparse+https://wharf.example.com/reg/index").unwrap(),
            "https://wharf.example.com/reg/api/wharf/v1/install-reports"
        );
        assert!(endpoint("file:///tmp/index").is_err());
    }
}

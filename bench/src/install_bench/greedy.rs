//! [`Greedy`]: the naive installer the benchmark compares against: for each
//! requested plugin the newest version whose host API requirement accepts the host, then for
//! each dependency the newest version that matches, no backtracking, no retries; then every
//! archive downloaded once and checked against its SHA-256.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::blocking::Client;
use semver::{Version, VersionReq};
use sha2::{Digest as _, Sha256};
use wharf_index_format::{IndexEntry, RegistryConfig, index_path};

use crate::install_bench::ecosystem::HOST_API;

/// How a greedy install ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GreedyOutcome {
    /// Every package downloaded and checked.
    Installed,
    /// Its choices led to a conflict (it does not look for another way).
    Refused(String),
    /// A request failed (no retries).
    Failed(String),
}

/// A greedy installer over one sparse index (`http://…/index/`).
#[derive(Debug)]
pub struct Greedy {
    http: Client,
    index: String,
    files: HashMap<String, Vec<IndexEntry>>,
}

impl Greedy {
    /// A client for `index_url` that waits at most `timeout` for any answer or read.
    pub fn new(index_url: &str, timeout: Duration) -> Result<Self, String> {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let http = Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let index = index_url
            .trim_start_matches("sparse+")
            .trim_end_matches('/')
            .to_owned()
            + "/";
        Ok(Self {
            http,
            index,
            files: HashMap::new(),
        })
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(url)
            .send()
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        Ok(response
            .bytes()
            .map_err(|e| format!("{url}: {e}"))?
            .to_vec())
    }

    fn versions(&mut self, name: &str) -> Result<Vec<IndexEntry>, String> {
        if let Some(found) = self.files.get(name) {
            return Ok(found.clone());
        }
        let url = format!("{}{}", self.index, index_path(name));
        let text = String::from_utf8(self.get(&url)?).map_err(|e| e.to_string())?;
        let mut entries: Vec<IndexEntry> = text
            .lines()
            .filter_map(|line| IndexEntry::from_line(line).ok())
            .filter(|entry| !entry.yanked)
            .collect();
        entries.sort_by(|a, b| b.vers.cmp(&a.vers));
        self.files.insert(name.to_owned(), entries.clone());
        Ok(entries)
    }

    /// Installs `requested` for `host` greedily.
    pub fn install(&mut self, requested: &[(String, VersionReq)], host: &Version) -> GreedyOutcome {
        match self.choose(requested, host) {
            Ok(Ok(chosen)) => match self.download(&chosen) {
                Ok(()) => GreedyOutcome::Installed,
                Err(e) => GreedyOutcome::Failed(e),
            },
            Ok(Err(conflict)) => GreedyOutcome::Refused(conflict),
            Err(e) => GreedyOutcome::Failed(e),
        }
    }

    /// The chosen entries, a conflict, or a failed request.
    #[allow(clippy::type_complexity)] // the two failure kinds stay apart
    fn choose(
        &mut self,
        requested: &[(String, VersionReq)],
        host: &Version,
    ) -> Result<Result<Vec<IndexEntry>, String>, String> {
        let mut chosen: Vec<IndexEntry> = Vec::new();
        let mut pending: Vec<(String, VersionReq, bool)> = requested
            .iter()
            .map(|(name, req)| (name.clone(), req.clone(), true))
            .collect();
        while let Some((name, req, top)) = pending.pop() {
            if name == HOST_API {
                if !req.matches(host) {
                    return Ok(Err(format!("needs {HOST_API} {req}")));
                }
                continue;
            }
            if chosen
                .iter()
                .any(|e| e.name == name && req.matches(&e.vers))
            {
                continue;
            }
            let versions = self.versions(&name)?;
            let host_ok = |entry: &IndexEntry| {
                entry.deps.iter().all(|d| {
                    d.package_name() != HOST_API
                        || VersionReq::parse(&d.req).is_ok_and(|r| r.matches(host))
                })
            };
            let Some(pick) = versions
                .iter()
                .find(|e| req.matches(&e.vers) && (!top || host_ok(e)))
            else {
                return Ok(Err(format!("no version of {name} matches {req}")));
            };
            if chosen
                .iter()
                .any(|e| e.name == name && same_bucket(&e.vers, &pick.vers))
            {
                return Ok(Err(format!(
                    "{name} {} conflicts with a version already chosen",
                    pick.vers
                )));
            }
            for dep in &pick.deps {
                if let Ok(req) = VersionReq::parse(&dep.req) {
                    pending.push((dep.package_name().to_owned(), req, false));
                }
            }
            chosen.push(pick.clone());
        }
        Ok(Ok(chosen))
    }

    fn download(&self, chosen: &[IndexEntry]) -> Result<(), String> {
        let config: RegistryConfig =
            serde_json::from_slice(&self.get(&format!("{}config.json", self.index))?)
                .map_err(|e| e.to_string())?;
        for entry in chosen {
            let url = config.dl.replace("{sha256-checksum}", &entry.cksum);
            let bytes = self.get(&url)?;
            if hex::encode(Sha256::digest(&bytes)) != entry.cksum {
                return Err(format!("{url}: digest mismatch"));
            }
        }
        Ok(())
    }
}

fn same_bucket(a: &Version, b: &Version) -> bool {
    match (a.major, b.major) {
        (0, 0) => a.minor == b.minor && (a.minor != 0 || a.patch == b.patch),
        (x, y) => x == y,
    }
}

//! One run of the installer: lock, clean, resolve, fetch, verify, unpack beside the set in
//! use, switch, record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wharf_resolver::{
    Fact, IndexEntry, IndexSource as _, LockDiff, Lockfile, Requirements, Resolution, ResolveError,
    Resolver,
};

use wharf_trust::PublicKey;

use crate::SparseIndex;
use crate::install::dir_lock::DirLock;
use crate::install::download::fetch_all;
use crate::install::layout::{sync_dir, write_atomically};
use crate::install::licence::LicenceGate;
use crate::install::lifecycle::{LifecycleFinding, LifecycleGate};
use crate::install::log_verifier::LogVerifier;
use crate::install::unpack::unpack;
use crate::install::{
    InstallConfig, InstallError, InstalledPackage, Installer, PackageRequest, Release,
    ReleaseVerifier, SetManifest, list,
};

/// What a successful run did.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The packages now in use.
    pub installed: Vec<InstalledPackage>,
    /// How the new set differs from the previous one (the host API left out).
    pub changes: LockDiff,
    /// The set now in use.
    pub set_dir: PathBuf,
    /// Deprecation notices for the packages now in use (warnings; nothing was refused).
    pub notices: Vec<LifecycleFinding>,
}

/// The packages requested after a change, the ones whose locked versions are not
/// preferred, and whether the lock is used at all.
type Plan = (BTreeMap<String, String>, Vec<String>, bool);

/// What a run changes in the requested packages.
#[derive(Debug, Clone, Copy)]
enum Change<'a> {
    Install(&'a [PackageRequest]),
    Update(&'a [String]),
    Remove(&'a [String]),
}

impl Installer {
    /// Adds (or changes the requirement of) `requests` to the installed set, keeping the
    /// versions of everything else where they still fit.
    pub fn install(&self, requests: &[PackageRequest]) -> Result<InstallReport, InstallError> {
        self.apply(Change::Install(requests))
    }

    /// Moves `names` (every package when empty) to the newest versions that fit.
    pub fn update(&self, names: &[String]) -> Result<InstallReport, InstallError> {
        self.apply(Change::Update(names))
    }

    /// Removes the requested packages `names` (and what only they needed).
    pub fn remove(&self, names: &[String]) -> Result<InstallReport, InstallError> {
        self.apply(Change::Remove(names))
    }

    fn apply(&self, change: Change<'_>) -> Result<InstallReport, InstallError> {
        let dir = &self.dir;
        dir.create()?;
        let _lock = DirLock::acquire(dir, self.wait_for_lock)?;
        dir.clean(None)?;
        let config = self.effective_config()?;
        let current = dir.current_set()?;
        let before = match &current {
            Some(set) => SetManifest::read(&set.join(SetManifest::FILE))?.unwrap_or_default(),
            None => SetManifest::default(),
        };
        // `--locked` takes `DIR/wharf.lock` as given; otherwise it is made the lock of the
        // set in use again (a run killed between its switch and its lock write left the
        // previous one).
        if let Some(set) = current.as_ref().filter(|_| !self.locked) {
            repair_lock_copy(&set.join("wharf.lock"), &dir.lock_path())?;
        }
        let old_lock = read_lock(&dir.lock_path())?;
        if self.locked && old_lock.is_none() {
            return Err(InstallError::InvalidRequest(format!(
                "`--locked` needs a lock file at `{}`: copy one there or run without `--locked`",
                dir.lock_path().display()
            )));
        }
        let (requested, unlock, use_lock) =
            self.plan(change, before.requested.clone(), old_lock.as_ref())?;
        let index = SparseIndex::with_options(&config.index_url, self.token.clone(), &self.client)
            .map_err(|e| InstallError::Index(e.to_string()))?;
        index.prefetch(requested.keys().map(String::as_str));
        if let Change::Install(requests) = change {
            for request in requests {
                let versions = index
                    .versions(&request.name)
                    .map_err(|e| InstallError::Index(e.to_string()))?;
                if versions.is_empty() {
                    return Err(InstallError::NotFound {
                        package: request.name.clone(),
                        index: config.index_url.clone(),
                    });
                }
            }
        }
        let lock = old_lock.clone().filter(|_| use_lock);
        let serials = dir.trust_dir().join("lifecycle-serials.json");
        let gate = LifecycleGate::load(&index, &config, Some(&serials))?;
        let (resolution, notices) =
            self.resolve_with_lifecycle(&index, &config, &requested, lock.as_ref(), unlock, &gate)?;
        if self.locked {
            check_locked(
                &dir.lock_path(),
                old_lock.as_ref().expect("checked above"),
                &resolution,
            )?;
        }
        let id = new_set_id();
        let verifier = self.release_verifier(&config)?;
        let licences = LicenceGate::load(&index, &config)?;
        let staging = self.stage(&index, &resolution, &id, verifier.as_ref(), &licences)?;
        let lock_text = resolution.to_wharf_lock();
        write_atomically(&staging.join("wharf.lock"), lock_text.as_bytes())?;
        SetManifest { requested }.write(&staging.join(SetManifest::FILE))?;
        sync_dir(&staging);
        let set = dir.sets_dir().join(&id);
        std::fs::rename(&staging, &set)
            .map_err(|e| InstallError::io("cannot move the new set to", &set, e))?;
        sync_dir(&dir.sets_dir());
        self.pause(&id);
        dir.switch_to(&id)?;
        write_atomically(&dir.lock_path(), lock_text.as_bytes())?;
        config.write(&dir.config_path())?;
        if let Err(error) = dir.clean(current.as_deref()) {
            tracing::warn!(%error, "an old set could not be removed; the next run will");
        }
        let mut changes = old_lock
            .unwrap_or(Lockfile {
                packages: Vec::new(),
            })
            .diff(&Lockfile::from(&resolution));
        // The host provides its API; it is in the lock but never installed.
        changes
            .changes
            .retain(|change| change.name != config.host_api_name);
        Ok(InstallReport {
            installed: list(dir)?,
            changes,
            set_dir: set,
            notices,
        })
    }

    /// Resolves, then again while the chosen versions include ones the lifecycle feed
    /// flags (each round discourages them and unlocks the blocked ones), so another
    /// fitting version wins; refuses a quarantined version or one under an advisory that
    /// was not allowed, and returns the deprecation notices of the rest.
    fn resolve_with_lifecycle(
        &self,
        index: &SparseIndex,
        config: &InstallConfig,
        requested: &BTreeMap<String, String>,
        lock: Option<&Lockfile>,
        mut unlock: Vec<String>,
        gate: &LifecycleGate,
    ) -> Result<(Resolution, Vec<LifecycleFinding>), InstallError> {
        const MAX_ROUNDS: usize = 4;
        let allowed = &self.allowed_advisories;
        let mut discouraged: Vec<(String, semver::Version)> = Vec::new();
        let mut resolution = resolve(
            index,
            config,
            requested,
            lock.cloned(),
            &unlock,
            &discouraged,
        )?;
        for _ in 0..MAX_ROUNDS {
            if self.locked {
                break;
            }
            let chosen = resolution
                .packages
                .iter()
                .filter(|p| p.name != config.host_api_name)
                .map(|p| (p.name.clone(), p.version.clone()))
                .filter(|pick| !discouraged.contains(pick));
            let flagged = gate.discouraged(chosen, allowed);
            if flagged.is_empty() {
                break;
            }
            for (name, version) in &flagged {
                if gate.blocks(name, version, allowed) && !unlock.contains(name) {
                    unlock.push(name.clone());
                }
            }
            discouraged.extend(flagged);
            resolution = resolve(
                index,
                config,
                requested,
                lock.cloned(),
                &unlock,
                &discouraged,
            )?;
        }
        let mut notices = Vec::new();
        for package in resolution
            .packages
            .iter()
            .filter(|p| p.name != config.host_api_name)
        {
            for finding in gate.findings(&package.name, &package.version, allowed) {
                let (code, hint) = match &finding {
                    LifecycleFinding::Deprecated { .. } => {
                        notices.push(finding);
                        continue;
                    }
                    LifecycleFinding::Quarantined { .. } => (
                        "quarantined",
                        "no other version fits; wait until the registry releases it or require another version".to_owned(),
                    ),
                    LifecycleFinding::Advisory { advisory, .. } => (
                        "advisory",
                        format!(
                            "no unaffected version fits; require a fixed version, or pass --allow-advisory {} to install it anyway",
                            advisory.id
                        ),
                    ),
                };
                return Err(InstallError::LifecycleRefused {
                    finding: finding.to_string(),
                    hint,
                    code,
                });
            }
        }
        Ok((resolution, notices))
    }

    /// The packages requested after `change`, the ones whose locked versions are not
    /// preferred, and whether the lock is used at all.
    fn plan(
        &self,
        change: Change<'_>,
        mut requested: BTreeMap<String, String>,
        old_lock: Option<&Lockfile>,
    ) -> Result<Plan, InstallError> {
        let dir = &self.dir;
        let mut unlock: Vec<String> = Vec::new();
        let mut use_lock = true;
        match change {
            Change::Install(requests) => {
                for request in requests {
                    requested.insert(request.name.clone(), request.requirement.clone());
                    unlock.push(request.name.clone());
                }
            }
            Change::Update(names) => {
                use_lock = !names.is_empty();
                let installed = installed_names(old_lock, &requested);
                for name in names {
                    if !installed.contains(name.as_str()) {
                        return Err(not_installed(dir.root(), name));
                    }
                    unlock.push(name.clone());
                }
            }
            Change::Remove(names) => {
                for name in names {
                    if requested.remove(name).is_none() {
                        return Err(not_installed(dir.root(), name));
                    }
                }
            }
        }
        if self.locked {
            unlock.clear();
            use_lock = true;
        }
        Ok((requested, unlock, use_lock))
    }

    /// Fetches, checks and unpacks the packages of `resolution` into a new staging
    /// directory `id`.
    fn stage(
        &self,
        index: &SparseIndex,
        resolution: &Resolution,
        id: &str,
        verifier: &dyn ReleaseVerifier,
        licences: &LicenceGate,
    ) -> Result<PathBuf, InstallError> {
        let entries = install_entries(index, resolution)?;
        // Every premium package's licence is checked before anything is downloaded.
        for entry in &entries {
            licences.check(entry)?;
        }
        self.progress.fetching(entries.len());
        let fetched = fetch_all(
            index,
            &self.dir.cache_dir(),
            entries,
            licences,
            self.download_threads,
            self.progress.as_ref(),
        )?;
        let releases: Vec<Release<'_>> = fetched
            .iter()
            .map(|item| Release {
                entry: &item.entry,
                archive: &item.archive,
            })
            .collect();
        verifier
            .prepare(&releases)
            .map_err(|reason| InstallError::RegistryUntrusted {
                index: index.url().to_string(),
                reason,
            })?;
        for (item, release) in fetched.iter().zip(&releases) {
            verifier
                .verify(release)
                .map_err(|reason| InstallError::SignatureInvalid {
                    package: item.entry.name.clone(),
                    version: item.entry.vers.to_string(),
                    reason,
                })?;
        }
        let staging = self.dir.staging_dir().join(id);
        std::fs::create_dir_all(&staging)
            .map_err(|e| InstallError::io("cannot create the directory", &staging, e))?;
        for item in &fetched {
            unpack(
                &item.archive,
                &item.entry.name,
                &item.entry.vers.to_string(),
                &staging,
            )?;
        }
        Ok(staging)
    }

    /// The remembered configuration with what this run was given on top; a first install
    /// must give the index URL and the host API.
    fn effective_config(&self) -> Result<InstallConfig, InstallError> {
        let saved = InstallConfig::read(&self.dir.config_path())?;
        let index_url = self
            .index_url
            .clone()
            .or_else(|| saved.as_ref().map(|c| c.index_url.clone()));
        let host_api = self
            .host_api
            .clone()
            .or_else(|| saved.as_ref().map(|c| c.host_api.clone()));
        let (Some(index_url), Some(host_api)) = (index_url, host_api) else {
            return Err(InstallError::InvalidRequest(format!(
                "`{}` has no `wharf-install.toml` yet: the first install needs `--index-url URL` \
                 and `--host-api VERSION`",
                self.dir.root().display()
            )));
        };
        let host_api_name = self
            .host_api_name
            .clone()
            .or_else(|| saved.as_ref().map(|c| c.host_api_name.clone()))
            .unwrap_or_else(|| wharf_resolver::HostPin::DEFAULT_NAME.to_owned());
        let root_key = self
            .root_key
            .as_ref()
            .map(PublicKey::to_text)
            .or_else(|| saved.as_ref().and_then(|c| c.root_key.clone()));
        let licence_file = self
            .licence_file
            .as_ref()
            .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()))
            .or_else(|| saved.as_ref().and_then(|c| c.licence_file.clone()));
        Ok(InstallConfig {
            index_url,
            host_api,
            host_api_name,
            root_key,
            licence_file,
        })
    }

    /// The verifier of this run: the log verifier once a root key is pinned (given now or
    /// remembered), else the one set with [`Installer::verifier`].
    fn release_verifier(
        &self,
        config: &InstallConfig,
    ) -> Result<Arc<dyn ReleaseVerifier>, InstallError> {
        let Some(text) = &config.root_key else {
            return Ok(Arc::clone(&self.verifier));
        };
        let root = PublicKey::parse(text).map_err(|e| InstallError::Damaged {
            path: self.dir.config_path(),
            reason: format!("root-key: {e}"),
        })?;
        let verifier = LogVerifier::new(
            root,
            &config.index_url,
            self.token.clone(),
            self.dir.trust_dir(),
            &self.client,
        )
        .map_err(|e| InstallError::InvalidRequest(e.to_string()))?;
        Ok(Arc::new(verifier))
    }

    fn pause(&self, id: &str) {
        let Some(marker) = &self.pause_before_switch else {
            return;
        };
        tracing::warn!(set = id, marker = %marker.display(), "pausing before the switch");
        if std::fs::write(marker, id).is_ok() {
            while marker.exists() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Resolves `requested` in plugin mode against the host pin of `config`.
fn resolve(
    index: &SparseIndex,
    config: &InstallConfig,
    requested: &BTreeMap<String, String>,
    lock: Option<Lockfile>,
    unlock: &[String],
    discouraged: &[(String, semver::Version)],
) -> Result<Resolution, InstallError> {
    let requirements = requested
        .iter()
        .fold(Requirements::named("plugins"), |r, (name, req)| {
            r.require(name.clone(), req.clone())
        });
    let mut resolver = Resolver::new(index).host_pin(config.host_pin());
    if let Some(lock) = lock {
        resolver = resolver.lock(lock);
    }
    for name in unlock {
        resolver = resolver.unlock(name.clone());
    }
    for (name, version) in discouraged {
        resolver = resolver.discourage(name.clone(), version.clone());
    }
    resolver
        .resolve_requirements(&requirements)
        .map_err(|error| match error {
            ResolveError::NoSolution(explanation) => {
                if explanation
                    .facts
                    .iter()
                    .any(|fact| matches!(fact, Fact::NeedsHostApi { .. }))
                {
                    InstallError::IncompatibleHostApi(explanation)
                } else {
                    InstallError::Unresolvable(explanation)
                }
            }
            ResolveError::Index { package, source } => {
                InstallError::Index(format!("{package}: {source}"))
            }
            other => InstallError::Resolve(other.to_string()),
        })
}

/// The index line of every package to install (the host API excluded).
fn install_entries(
    index: &SparseIndex,
    resolution: &Resolution,
) -> Result<Vec<IndexEntry>, InstallError> {
    resolution
        .install_set()
        .into_iter()
        .map(|package| {
            let versions = index
                .versions(&package.name)
                .map_err(|e| InstallError::Index(e.to_string()))?;
            versions
                .iter()
                .find(|entry| entry.vers == package.version)
                .cloned()
                .ok_or_else(|| {
                    InstallError::Index(format!(
                        "{} {} was selected but its index line is gone",
                        package.name, package.version
                    ))
                })
        })
        .collect()
}

/// `--locked`: the resolution must be the lock, package for package and checksum for
/// checksum.
fn check_locked(path: &Path, lock: &Lockfile, resolution: &Resolution) -> Result<(), InstallError> {
    let locked: BTreeSet<(String, String, Option<String>)> = lock
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string(), p.checksum.clone()))
        .collect();
    let resolved: BTreeSet<(String, String, Option<String>)> = resolution
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string(), p.checksum.clone()))
        .collect();
    let mismatch = |difference: String| InstallError::LockMismatch {
        lock: path.to_owned(),
        difference,
    };
    if let Some((name, version, _)) = resolved.difference(&locked).next() {
        return Err(mismatch(
            match locked.iter().find(|(n, v, _)| n == name && v == version) {
                Some(_) => format!("the checksum of {name} {version} differs from the lock's"),
                None => format!("{name} {version} is needed but not in the lock"),
            },
        ));
    }
    if let Some((name, version, _)) = locked.difference(&resolved).next() {
        return Err(mismatch(format!(
            "the lock has {name} {version}, which the requests no longer select"
        )));
    }
    Ok(())
}

fn read_lock(path: &Path) -> Result<Option<Lockfile>, InstallError> {
    if !path.exists() {
        return Ok(None);
    }
    Lockfile::from_path(path)
        .map(Some)
        .map_err(|e| InstallError::Damaged {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// After a run killed between its switch and its lock write, `DIR/wharf.lock` is copied
/// from the set in use again.
fn repair_lock_copy(set_lock: &Path, dir_lock: &Path) -> Result<(), InstallError> {
    let Ok(text) = std::fs::read(set_lock) else {
        return Ok(());
    };
    if std::fs::read(dir_lock).ok().as_ref() != Some(&text) {
        tracing::info!(path = %dir_lock.display(), "restoring the lock of the set in use");
        write_atomically(dir_lock, &text)?;
    }
    Ok(())
}

fn installed_names<'a>(
    lock: Option<&'a Lockfile>,
    requested: &'a BTreeMap<String, String>,
) -> BTreeSet<&'a str> {
    lock.into_iter()
        .flat_map(|lock| lock.packages.iter().map(|p| p.name.as_str()))
        .chain(requested.keys().map(String::as_str))
        .collect()
}

fn not_installed(dir: &Path, name: &str) -> InstallError {
    InstallError::NotInstalled {
        package: name.to_owned(),
        dir: dir.to_owned(),
    }
}

/// A fresh set id: the time in nanoseconds and the process id.
fn new_set_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:x}-{}", std::process::id())
}

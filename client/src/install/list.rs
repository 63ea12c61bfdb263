//! [`list`]: what an install directory has in use.

use wharf_resolver::{Lockfile, Version};

use crate::install::{InstallConfig, InstallDir, InstallError, SetManifest};

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// The requirement it was asked for with, or `None` when it is there as a dependency.
    pub requested: Option<String>,
}

/// The packages of the set in use, sorted by name and version (the host API excluded);
/// empty when nothing was installed yet. Reads only, so it works while another run
/// prepares the next set.
pub fn list(dir: &InstallDir) -> Result<Vec<InstalledPackage>, InstallError> {
    let Some(set) = dir.current_set()? else {
        return Ok(Vec::new());
    };
    let host_api = InstallConfig::read(&dir.config_path())?.map(|c| c.host_api_name);
    let manifest = SetManifest::read(&set.join(SetManifest::FILE))?.unwrap_or_default();
    let lock_path = set.join("wharf.lock");
    let lock = Lockfile::from_path(&lock_path).map_err(|e| InstallError::Damaged {
        path: lock_path,
        reason: e.to_string(),
    })?;
    let mut packages: Vec<InstalledPackage> = lock
        .packages
        .into_iter()
        .filter(|p| Some(&p.name) != host_api.as_ref())
        .map(|p| InstalledPackage {
            requested: manifest.requested.get(&p.name).cloned(),
            name: p.name,
            version: p.version,
        })
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok(packages)
}

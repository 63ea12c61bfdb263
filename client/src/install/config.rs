//! The two small files of an install: `wharf-install.toml` (where packages come from and
//! which host API they run on) and each set's `wharf-set.toml` (what was asked for).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use wharf_resolver::{HostPin, Version};

use crate::install::InstallError;
use crate::install::layout::write_atomically;

/// `DIR/wharf-install.toml`: the index URL and host API of an install directory, written
/// by the first install and used by every later command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstallConfig {
    /// The registry's sparse index, as given.
    pub index_url: String,
    /// The host API version the host provides.
    pub host_api: Version,
    /// The host API package's name.
    #[serde(default = "default_host_api_name")]
    pub host_api_name: String,
    /// The registry's root public key (`wharf-ed25519:…`), once pinned with `--root-key`:
    /// every later run checks each release against the registry's signed log from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_key: Option<String>,
    /// The licence file for premium packages, once given with `--licence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence_file: Option<std::path::PathBuf>,
}

fn default_host_api_name() -> String {
    HostPin::DEFAULT_NAME.to_owned()
}

impl InstallConfig {
    /// The host pin the resolver gets.
    pub fn host_pin(&self) -> HostPin {
        HostPin {
            name: self.host_api_name.clone(),
            version: self.host_api.clone(),
        }
    }

    /// Reads `path`; `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>, InstallError> {
        read_toml(path)
    }

    /// Writes it to `path` atomically.
    pub(crate) fn write(&self, path: &Path) -> Result<(), InstallError> {
        write_toml(path, self)
    }
}

/// `<set>/wharf-set.toml`: the packages asked for (name → requirement), which `update`
/// and `remove` start from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetManifest {
    /// Each requested package and its requirement.
    pub requested: BTreeMap<String, String>,
}

impl SetManifest {
    /// The file name inside a set.
    pub const FILE: &'static str = "wharf-set.toml";

    /// Reads `path`; `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>, InstallError> {
        read_toml(path)
    }

    /// Writes it to `path` atomically.
    pub(crate) fn write(&self, path: &Path) -> Result<(), InstallError> {
        write_toml(path, self)
    }
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, InstallError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(InstallError::io("cannot read", path, e)),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| InstallError::Damaged {
            path: path.to_owned(),
            reason: e.message().to_owned(),
        })
}

fn write_toml<T: Serialize>(path: &Path, value: &T) -> Result<(), InstallError> {
    let text = toml::to_string(value).expect("install files always serialise");
    write_atomically(path, text.as_bytes())
}

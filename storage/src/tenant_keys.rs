//! Tenants' signing keys for every node of a registry on PostgreSQL.
//!
//! Every node signs a tenant's checkpoints, timestamps and releases with the tenant's one
//! keyset (`node_keys.rs` refuses any other), and a tenant made by `wharf tenant create` on
//! one machine must be served by every node. So the command seals the files of the tenant's
//! `keys/` into the tenants table (XChaCha20-Poly1305, bound to the tenant's name) under the
//! registry's tenant key, `<data>/keys/tenants.key`, which every node holds because every
//! node holds a copy of the registry's `keys/`; a node that serves the tenant writes them
//! into its own `<data>/tenants/<name>/keys` (mode 0600). A copy of the database without the
//! key file holds no usable signing key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::StorageError;
use crate::registry_keys::{KEYS_DIR, write_private};
use crate::sealed_box;

/// The tenant key's file name inside the registry's `<data>/keys/`.
pub const TENANT_KEY_FILE: &str = "tenants.key";

/// What to do about a damaged or missing tenant key.
const RESTORE: &str =
    "copy `keys/tenants.key` from a node of this registry (every node needs the same file)";

fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_DIR).join(TENANT_KEY_FILE)
}

fn bound_to(tenant: &str) -> Vec<u8> {
    format!("wharf tenant keys of {tenant}").into_bytes()
}

fn refused(tenant: &str, problem: String) -> StorageError {
    StorageError::Tenant {
        tenant: tenant.to_owned(),
        problem,
    }
}

fn path_error(path: &Path, cause: std::io::Error) -> StorageError {
    StorageError::Path {
        path: path.to_path_buf(),
        cause,
    }
}

/// Makes the tenant key of the registry in `data_dir` unless it has one; returns whether it
/// made it (then every other node needs a copy of the file).
///
/// # Errors
/// [`StorageError::Path`] when the file cannot be written, [`StorageError::Corrupt`] when
/// the one there is not a key.
pub fn make_tenant_key(data_dir: &Path) -> Result<bool, StorageError> {
    let path = key_path(data_dir);
    if sealed_box::read_key(&path, RESTORE)?.is_some() {
        return Ok(false);
    }
    sealed_box::key_or_create(&path, RESTORE)?;
    Ok(true)
}

/// The files of `tenant_dir/keys` sealed under the tenant key of the registry in
/// `data_dir`, bound to `tenant`.
///
/// # Errors
/// [`StorageError::Path`] when a key file cannot be read, [`StorageError::Tenant`] when the
/// directory holds no keyset or the registry has no tenant key.
pub fn seal_tenant_keys(
    data_dir: &Path,
    tenant: &str,
    tenant_dir: &Path,
) -> Result<Vec<u8>, StorageError> {
    let files = read_keys(&tenant_dir.join(KEYS_DIR))?;
    if !files.contains_key("keyset-1.note") {
        return Err(refused(
            tenant,
            format!(
                "has no keyset in `{}`; remove the tenant's directory and create the tenant again",
                tenant_dir.join(KEYS_DIR).display()
            ),
        ));
    }
    let path = key_path(data_dir);
    let key = sealed_box::read_key(&path, RESTORE)?.ok_or_else(|| {
        refused(
            tenant,
            format!(
                "cannot have its keys sealed: `{}` is missing; {RESTORE}, or make it with `wharf tenant create` on a node",
                path.display()
            ),
        )
    })?;
    let plain = serde_json::to_vec(&files).map_err(|error| StorageError::Corrupt {
        what: format!("the keys of tenant `{tenant}` cannot be serialised: {error}"),
    })?;
    sealed_box::seal(&key, &bound_to(tenant), &plain)
        .ok_or_else(|| refused(tenant, "has keys that could not be sealed".to_owned()))
}

/// Writes the keys `sealed` holds into `tenant_dir/keys` unless the files there are those
/// already (a directory with other keys is replaced: the database's record is the tenant's
/// keyset); returns whether it wrote them.
///
/// # Errors
/// [`StorageError::Tenant`] naming the tenant key when it is missing or is not the one that
/// sealed them, [`StorageError::Path`] when the directory cannot be written.
pub fn install_tenant_keys(
    data_dir: &Path,
    tenant: &str,
    sealed: &[u8],
    tenant_dir: &Path,
) -> Result<bool, StorageError> {
    let path = key_path(data_dir);
    let cannot = |why: &str| {
        refused(
            tenant,
            format!(
                "cannot be served by this node: its signing keys do not open with `{}` ({why}); copy that file from the node where the tenant was created (every node needs the same file)",
                path.display()
            ),
        )
    };
    let key = sealed_box::read_key(&path, RESTORE)?.ok_or_else(|| cannot("it is missing"))?;
    let plain = sealed_box::open(&key, &bound_to(tenant), sealed).map_err(cannot)?;
    let files: BTreeMap<String, String> =
        serde_json::from_slice(&plain).map_err(|_| cannot("what it opens is not a key list"))?;
    let keys_dir = tenant_dir.join(KEYS_DIR);
    if keys_dir.exists() && read_keys(&keys_dir)? == files {
        return Ok(false);
    }
    // A name of its own: a command and the server may install the same keys at once.
    let fresh = tenant_dir.join(format!(
        "{KEYS_DIR}.new-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&fresh).map_err(|cause| path_error(&fresh, cause))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o700))
            .map_err(|cause| path_error(&fresh, cause))?;
    }
    for (name, text) in &files {
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(cannot("it names a file outside the key directory"));
        }
        write_private(&fresh.join(name), text)?;
    }
    if keys_dir.exists() {
        if read_keys(&keys_dir)? == files {
            // Installed meanwhile by another process.
            std::fs::remove_dir_all(&fresh).map_err(|cause| path_error(&fresh, cause))?;
            return Ok(false);
        }
        std::fs::remove_dir_all(&keys_dir).map_err(|cause| path_error(&keys_dir, cause))?;
    }
    std::fs::rename(&fresh, &keys_dir).map_err(|cause| path_error(&keys_dir, cause))?;
    tracing::info!(tenant, dir = %keys_dir.display(), "tenant signing keys installed");
    Ok(true)
}

/// Every file of `keys_dir` by name (none when it does not exist).
fn read_keys(keys_dir: &Path) -> Result<BTreeMap<String, String>, StorageError> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(keys_dir) {
        Ok(entries) => entries,
        Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(cause) => return Err(path_error(keys_dir, cause)),
    };
    for entry in entries {
        let entry = entry.map_err(|cause| path_error(keys_dir, cause))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|cause| path_error(&path, cause))?;
        files.insert(name, text);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_open_on_a_node_with_the_tenant_key_only() {
        let (made_on, node) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let tenant = made_on.path().join("tenants/acme");
        crate::registry_keys::RegistryKeys::load_or_create(&tenant, Some("acme")).unwrap();
        assert!(make_tenant_key(made_on.path()).unwrap());
        assert!(!make_tenant_key(made_on.path()).unwrap());
        let sealed = seal_tenant_keys(made_on.path(), "acme", &tenant).unwrap();

        let served = node.path().join("tenants/acme");
        let error = install_tenant_keys(node.path(), "acme", &sealed, &served)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("tenants.key") && !error.contains('\n'),
            "{error}"
        );
        assert!(!served.join(KEYS_DIR).exists());

        std::fs::create_dir_all(node.path().join(KEYS_DIR)).unwrap();
        std::fs::copy(key_path(made_on.path()), key_path(node.path())).unwrap();
        assert!(install_tenant_keys(node.path(), "acme", &sealed, &served).unwrap());
        assert!(!install_tenant_keys(node.path(), "acme", &sealed, &served).unwrap());
        let here = crate::registry_keys::RegistryKeys::load(&served).unwrap();
        let there = crate::registry_keys::RegistryKeys::load(&tenant).unwrap();
        assert_eq!(here.root(), there.root());
        // Bound to the tenant: another tenant's row does not open.
        assert!(install_tenant_keys(node.path(), "other", &sealed, &served).is_err());
    }
}

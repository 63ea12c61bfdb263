//! Premium packages in bundles: `export` records the registry's entitlement information
//! (`/api/wharf/v1/entitlements`: entitlement keys, premium packages, signed revocation list)
//! as the member `entitlements.json`, covered by the signed `MANIFEST` like every member;
//! `import` checks each key against the keyset the root key signed (the same chain the
//! verifier walked) and the revocation list against those keys, and writes the copy's
//! `entitlements.json`, with which `wharf serve --data` checks premium downloads. A cargo
//! `local-registry` directory can check nothing, so premium packages go there only with
//! `--include-premium`.

use anyhow::{Context, bail};
use wharf_registry_server::MirrorEntitlements;
use wharf_trust::{Keyset, Note, PublicKey, UtcTime, verify_keyset_chain};

use super::format::Release;
use crate::entitlement_info::EntitlementInfo;

/// The member that carries the entitlement information.
pub(crate) const MEMBER: &str = "entitlements.json";

/// The target (`/api/wharf/v1/entitlements` under the API's path) of the registry whose
/// `config.json` is `config`, reached at `origin`.
pub(crate) fn target(config: &serde_json::Value, origin: &str) -> String {
    let api = config["api"]
        .as_str()
        .unwrap_or(origin)
        .trim_end_matches('/');
    let path = api.strip_prefix(origin).unwrap_or("");
    format!("{path}/api/wharf/v1/entitlements")
}

/// The premium packages among `releases`, as `name version` lines.
pub(crate) fn premium_releases(
    entitlements: Option<&[u8]>,
    releases: &[Release],
) -> anyhow::Result<Vec<String>> {
    let Some(bytes) = entitlements else {
        return Ok(Vec::new());
    };
    let info = EntitlementInfo::parse(bytes)?;
    Ok(releases
        .iter()
        .filter(|release| info.is_premium(&release.name))
        .map(|release| format!("`{}` {}", release.name, release.version))
        .collect())
}

/// Refuses to write premium `releases` into a local registry unless `include` was given.
pub(crate) fn refuse_in_local_registry(
    entitlements: Option<&[u8]>,
    releases: &[Release],
    include: bool,
) -> anyhow::Result<()> {
    let premium = premium_releases(entitlements, releases)?;
    if let Some(first) = premium.first()
        && !include
    {
        bail!(
            "{first} is premium ({} premium versions chosen) and a cargo local-registry directory checks no licence: leave premium packages out of the selection, import the bundle into `wharf serve --data` (which checks licences), or pass --include-premium to write them anyway",
            premium.len()
        );
    }
    Ok(())
}

/// The copy's entitlement information from the bundle's member, checked offline: every key
/// is signed into the keyset chain `keyset_json` (`{"keysets":[…]}`) that `root` starts,
/// judged at `at`; the revocation list verifies under those keys.
pub(crate) fn verified(
    member: &[u8],
    keyset_json: &[u8],
    root: &PublicKey,
    at: UtcTime,
    releases: &[Release],
) -> anyhow::Result<MirrorEntitlements> {
    let info = EntitlementInfo::parse(member)?;
    let chain: serde_json::Value =
        serde_json::from_slice(keyset_json).context("its keyset chain is not JSON")?;
    let notes: Vec<&str> = chain["keysets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let first = notes.first().context("it carries no keyset")?;
    let origin = Keyset::parse(Note::parse(first.as_bytes())?.text())?
        .origin()
        .to_owned();
    let notes: Vec<&[u8]> = notes.iter().map(|note| note.as_bytes()).collect();
    let keyset = verify_keyset_chain(root, &origin, &notes, at)?;
    info.check_against(&keyset)?;
    Ok(info.for_copy(releases.iter().map(|release| {
        (
            release.cksum.as_str(),
            release.name.as_str(),
            release.version.as_str(),
        )
    })))
}

#[cfg(test)]
mod tests {
    use wharf_trust::SigningKey;

    use super::*;

    fn release(name: &str) -> Release {
        Release {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            cksum: format!("{name}-cksum"),
        }
    }

    /// A keyset chain of one version naming `entitlement`, signed by `root`.
    fn chain(root: &SigningKey, entitlement: &[PublicKey]) -> Vec<u8> {
        let online: [SigningKey; 3] = std::array::from_fn(|_| SigningKey::generate());
        let keyset = Keyset::new(
            "registry.example",
            1,
            UtcTime::now().plus_seconds(3600),
            [
                root.public_key(),
                online[0].public_key(),
                online[1].public_key(),
                online[2].public_key(),
            ],
        )
        .and_then(|keyset| keyset.with_entitlement_keys(entitlement))
        .unwrap();
        serde_json::to_vec(&serde_json::json!({ "keysets": [keyset.sign(&[root]).unwrap()] }))
            .unwrap()
    }

    #[test]
    fn only_keys_signed_into_the_keyset_are_carried() {
        let root = SigningKey::generate();
        let signed = SigningKey::generate().public_key();
        let stranger = SigningKey::generate().public_key();
        let member = |key: &PublicKey| {
            serde_json::to_vec(&serde_json::json!({
                "keys": [key.to_text()], "premium": ["Paid_Plugin"], "revocations": null
            }))
            .unwrap()
        };
        let releases = [release("paid-plugin"), release("free")];
        let keyset = chain(&root, &[signed]);
        let copy = verified(
            &member(&signed),
            &keyset,
            &root.public_key(),
            UtcTime::now(),
            &releases,
        )
        .unwrap();
        assert_eq!(copy.releases.len(), 1);
        assert!(copy.releases.contains_key("paid-plugin-cksum"));
        let error = verified(
            &member(&stranger),
            &keyset,
            &root.public_key(),
            UtcTime::now(),
            &releases,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("is not signed into the registry's keyset"),
            "{error}"
        );
        let other_root = SigningKey::generate();
        assert!(
            verified(
                &member(&signed),
                &keyset,
                &other_root.public_key(),
                UtcTime::now(),
                &releases,
            )
            .is_err()
        );
    }

    #[test]
    fn a_local_registry_gets_premium_packages_only_when_asked() {
        let member = br#"{"keys":[],"premium":["paid-plugin"],"revocations":null}"#;
        let releases = [release("paid_plugin")];
        let error = refuse_in_local_registry(Some(member), &releases, false)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`paid_plugin` 1.0.0 is premium"), "{error}");
        refuse_in_local_registry(Some(member), &releases, true).unwrap();
        refuse_in_local_registry(None, &releases, false).unwrap();
    }
}

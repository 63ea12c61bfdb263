//! Plugin versions keep their kind and capabilities beside the index line.

use wharf_index_format::{Capabilities, PluginInfo, PluginKind, StorageAccess};

use crate::support::{TestResult, admin, fresh, upload};

fn info(kind: PluginKind, host_api: &str) -> PluginInfo {
    PluginInfo {
        kind,
        capabilities: Capabilities {
            network: vec!["*.example.com:443".into()],
            storage: StorageAccess::ReadWrite,
            ..Capabilities::default()
        },
        entry: "main.wat".into(),
        host_api: host_api.into(),
        min_host_version: None,
        template: None,
    }
}

#[tokio::test]
async fn plugin_facts_are_kept_per_version_and_shown_in_search() -> TestResult {
    let (_dir, storage) = fresh().await;
    let who = admin(&storage, "alice");
    for (version, host_api) in [("1.0.0", "^1"), ("2.0.0", "^2")] {
        let mut plugin = upload("email", version);
        plugin.metadata.plugin = Some(info(PluginKind::Plugin, host_api));
        storage.publish(&who, plugin).await?;
    }
    storage
        .publish(&who, upload("email-crate", "1.0.0"))
        .await?;
    storage.set_yanked(&who, "email", "1.0.0", true).await?;

    let package = storage.plugin("EMAIL").await?.expect("email is a plugin");
    assert_eq!(package.name, "email");
    let versions: Vec<_> = package
        .versions
        .iter()
        .map(|r| (r.version.as_str(), r.yanked, r.info.host_api.as_str()))
        .collect();
    assert_eq!(versions, [("1.0.0", true, "^1"), ("2.0.0", false, "^2")]);
    assert_eq!(package.versions[1].info, info(PluginKind::Plugin, "^2"));
    assert!(
        storage.plugin("email-crate").await?.is_none(),
        "a crate is no plugin"
    );
    assert!(storage.plugin("missing").await?.is_none());

    let hits = storage.search("email", 10).await?.hits;
    let kinds: Vec<_> = hits
        .iter()
        .map(|h| (h.name.as_str(), h.plugin_kind.as_deref()))
        .collect();
    assert_eq!(kinds, [("email", Some("plugin")), ("email-crate", None)]);
    Ok(())
}

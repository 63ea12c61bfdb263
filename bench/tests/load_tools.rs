//! The load tools against a real Wharf: the registry server in-process over real storage on
//! a temporary directory, and the real publish validator.

use std::sync::Arc;

use tokio::sync::oneshot;
use wharf_bench::{
    PublishTarget, SeedPlan, SyntheticCrate, fetch_index_files, publish_all, seed_waves,
};
use wharf_index_format::{PublishLimits, index_path, prepare_publish};
use wharf_registry_server::{AppState, Server, ServerConfig, warm_cache};
use wharf_storage::{NewToken, Scope, Storage, StorageConfig};

/// A running registry; dropping it stops the server.
struct Registry {
    url: String,
    token: String,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start_registry() -> Registry {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage = Storage::open(StorageConfig::local(dir.path()))
        .await
        .expect("storage opens on an empty directory");
    let token = storage
        .create_token(NewToken {
            user: "bench".to_owned(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            name_patterns: Vec::new(),
            label: None,
        })
        .expect("a token")
        .secret
        .expose()
        .to_owned();
    let server = Server::bind("127.0.0.1:0".parse().expect("an address")).expect("a free port");
    let url = format!("http://{}", server.local_addr().expect("bound"));
    let state = Arc::new(AppState::new(
        storage,
        ServerConfig::new(url.clone(), false),
    ));
    warm_cache(&state).await.expect("an empty cache warms");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(state, async move {
        let _ = stopped.await;
    }));
    Registry {
        url,
        token,
        _stop: stop,
        _dir: dir,
    }
}

#[test]
fn seed_bodies_pass_the_publish_validator() {
    let plan = SeedPlan {
        packages: 40,
        versions: 2,
        prefix: "v".to_owned(),
    };
    for krate in seed_waves(&plan).iter().flatten() {
        let body = krate.publish_body().expect("a body");
        let prepared = prepare_publish(&body, &PublishLimits::default())
            .unwrap_or_else(|e| panic!("`{} {}` refused: {e}", krate.name, krate.version));
        assert_eq!(prepared.entry.name, krate.name);
        assert_eq!(prepared.entry.vers.to_string(), krate.version);
        assert_eq!(prepared.entry.deps.len(), krate.deps.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_are_acknowledged_and_served() {
    let registry = start_registry().await;
    let target = PublishTarget::new(&registry.url, &registry.token).expect("a client");
    let names: Vec<String> = (0..24).map(|i| format!("load-{i}")).collect();
    let bodies = names
        .iter()
        .map(|n| SyntheticCrate::new(n.as_str(), "1.0.0").publish_body())
        .collect::<Result<Vec<_>, _>>()
        .expect("bodies");
    let report = publish_all(&target, bodies, 4).await.expect("a run");
    assert_eq!(report.failures, []);
    assert_eq!(report.succeeded, 24);
    assert_eq!(report.latency.map(|l| l.count), Some(24));

    let out = tempfile::tempdir().expect("a temporary directory");
    let paths: Vec<String> = names.iter().map(|n| index_path(n)).collect();
    let files = fetch_index_files(&registry.url, &paths, Some(out.path()), 8)
        .await
        .expect("every index file is served");
    assert_eq!(files.len(), 24);
    for (file, name) in files.iter().zip(&names) {
        assert!(file.etag.starts_with('"') && file.etag.ends_with('"'));
        let text = std::fs::read_to_string(out.path().join("index").join(&file.path))
            .expect("the mirrored file");
        assert_eq!(text.len(), file.len);
        assert!(text.starts_with(&format!("{{\"name\":\"{name}\",\"vers\":\"1.0.0\"")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_publishes_are_counted_with_their_status() {
    let registry = start_registry().await;
    let target = PublishTarget::new(&registry.url, &registry.token).expect("a client");
    let body = SyntheticCrate::new("twice", "1.0.0")
        .publish_body()
        .expect("a body");
    let report = publish_all(&target, vec![body.clone(), body], 1)
        .await
        .expect("a run");
    assert_eq!(report.succeeded, 1);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].index, 1);
    assert_eq!(report.failures[0].status, Some(409));

    let stranger = PublishTarget::new(&registry.url, "not-a-token").expect("a client");
    let body = SyntheticCrate::new("other", "1.0.0")
        .publish_body()
        .expect("a body");
    let report = publish_all(&stranger, vec![body], 1).await.expect("a run");
    assert_eq!(report.succeeded, 0);
    assert_eq!(report.failures[0].status, Some(403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_registry_has_every_version_of_every_package() {
    let registry = start_registry().await;
    let target = PublishTarget::new(&registry.url, &registry.token).expect("a client");
    let plan = SeedPlan {
        packages: 30,
        versions: 3,
        prefix: "s".to_owned(),
    };
    for wave in seed_waves(&plan) {
        let bodies = wave
            .iter()
            .map(SyntheticCrate::publish_body)
            .collect::<Result<Vec<_>, _>>()
            .expect("bodies");
        let report = publish_all(&target, bodies, 8).await.expect("a run");
        assert_eq!(report.failures, [], "every dependency exists beforehand");
    }
    let out = tempfile::tempdir().expect("a temporary directory");
    let paths: Vec<String> = (0..30).map(|i| index_path(&plan.package_name(i))).collect();
    fetch_index_files(&registry.url, &paths, Some(out.path()), 8)
        .await
        .expect("every index file is served");
    for path in &paths {
        let text = std::fs::read_to_string(out.path().join("index").join(path)).expect("mirrored");
        let versions: Vec<String> = text
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                value["vers"].as_str().expect("a version").to_owned()
            })
            .collect();
        assert_eq!(versions, ["1.0.0", "1.1.0", "1.2.0"], "in `{path}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_ecosystem_publishes_and_its_yank_list_is_applied() {
    let registry = start_registry().await;
    let out = tempfile::tempdir().expect("a temporary directory");
    let ecosystem = wharf_bench::generate(wharf_bench::EcosystemParams {
        seed: 7,
        plugins: 30,
    });
    ecosystem
        .write_to(out.path())
        .expect("the files are written");
    let (url, token, dir) = (
        registry.url.clone(),
        registry.token.clone(),
        out.path().to_owned(),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wharf-load"))
            .args([
                "publish-ecosystem",
                "--url",
                &url,
                "--concurrency",
                "4",
                "--dir",
            ])
            .arg(&dir)
            .env("WHARF_TOKEN", &token)
            .output()
            .expect("wharf-load runs")
    })
    .await
    .expect("the command finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yanked: Vec<_> = ecosystem.versions.iter().filter(|v| v.yanked).collect();
    assert!(
        stdout.contains(&format!("yanked {} versions", yanked.len())),
        "{stdout}"
    );
    // Every version is in its index file, the yanked ones flagged.
    let names: std::collections::BTreeSet<&str> = ecosystem
        .versions
        .iter()
        .map(wharf_bench::GeneratedVersion::name)
        .collect();
    let paths: Vec<String> = names.iter().map(|name| index_path(name)).collect();
    let mirror = tempfile::tempdir().expect("a temporary directory");
    fetch_index_files(&registry.url, &paths, Some(mirror.path()), 4)
        .await
        .expect("every index file is served");
    for version in &ecosystem.versions {
        let text =
            std::fs::read_to_string(mirror.path().join("index").join(index_path(version.name())))
                .expect("the index file was mirrored");
        let line = text
            .lines()
            .map(|line| wharf_index_format::IndexEntry::from_line(line).expect("a line"))
            .find(|entry| entry.vers.to_string() == version.version())
            .unwrap_or_else(|| panic!("{} {} is not served", version.name(), version.version()));
        assert_eq!(
            line.yanked,
            version.yanked,
            "{} {}",
            version.name(),
            version.version()
        );
    }
}

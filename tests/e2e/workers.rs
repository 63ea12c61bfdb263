//! HTTP workers: `--workers` (or `workers` in the config file) sets how many threads serve,
//! `/metrics` reports them, and every worker answers correctly whether it offers its core
//! after every request (`--yield-every 1`) or never (`--yield-every 0`).

use std::process::Command;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

/// Publishes `count` packages, then fetches each index file from `clients` threads at once,
/// each on its own connection, so the kernel spreads them over the workers.
fn publish_and_fetch_concurrently(
    registry: &TestRegistry,
    count: usize,
    clients: usize,
) -> TestResult {
    let http = registry.http();
    for n in 0..count {
        let published = http
            .put(format!("{}/api/v1/crates/new", registry.url()))
            .header("Authorization", &registry.admin_token)
            .body(publish_body(&format!("spread-{n}"), "1.0.0"))
            .send()?;
        assert_eq!(published.status(), 200, "{}", published.text()?);
    }
    let base = registry.url();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let base = base.clone();
            let http = registry.http();
            std::thread::spawn(move || -> Result<(), String> {
                for n in 0..count {
                    let name = format!("spread-{n}");
                    let url = format!("{base}/index/{}/{}/{name}", &name[..2], &name[2..4]);
                    let response = http.get(&url).send().map_err(|e| e.to_string())?;
                    let status = response.status();
                    let text = response.text().map_err(|e| e.to_string())?;
                    if status != 200 || !text.contains(&format!("\"name\":\"{name}\"")) {
                        return Err(format!("{url}: {status} {text}"));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a client thread panicked")??;
    }
    Ok(())
}

#[test]
fn workers_flag_sets_the_serving_threads_and_each_answers() -> TestResult {
    let registry = TestRegistry::start_with(&["--workers", "3", "--yield-every", "1"]);
    assert_eq!(registry.metric("wharf_http_workers")?, 3);
    publish_and_fetch_concurrently(&registry, 20, 8)?;
    let served =
        registry.metric("wharf_http_requests_total{route=\"index_file\",status=\"200\"}")?;
    assert_eq!(served, 20 * 8);
    Ok(())
}

#[test]
fn the_config_file_sets_workers_and_yielding_and_the_default_is_one_per_core() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("wharf.toml");
    std::fs::write(&config, "workers = 1\nyield-every = 0\n")?;
    let config = config.to_str().ok_or("a UTF-8 temp path")?;
    let registry = TestRegistry::start_with(&["--config", config]);
    assert_eq!(registry.metric("wharf_http_workers")?, 1);
    publish_and_fetch_concurrently(&registry, 5, 4)?;

    let default = TestRegistry::start();
    let cores = std::thread::available_parallelism()?.get();
    assert_eq!(default.metric("wharf_http_workers")?, u64::try_from(cores)?);
    Ok(())
}

#[test]
fn zero_workers_is_refused_with_a_message() -> TestResult {
    let data = tempfile::tempdir()?;
    let output = Command::new(wharf_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "0",
            "--data",
        ])
        .arg(data.path())
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--workers") && stderr.contains('0'),
        "unexpected message: {stderr}"
    );
    Ok(())
}

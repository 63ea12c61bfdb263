//! Resolves requirements against a registry's sparse index from a tokio program, without
//! blocking the runtime: the resolver runs on a thread of its own and asks the async HTTP
//! client for each package, while the dependencies of every answer are fetched ahead.
//!
//! ```text
//! cargo run -p wharf-client --example async_http -- http://127.0.0.1:8080/index/ serde=1 log=0.4
//! ```
//!
//! The test suite runs it against a real HTTP server on loopback
//! (`cargo nextest run -p wharf-client --examples`).

use wharf_client::{AsyncSparseIndex, ClientOptions};
use wharf_resolver::{Requirements, Resolution, Resolver, run_with_async_source};

/// Resolves `wanted` against the sparse index at `url`; also returns how many requests the
/// client sent.
async fn resolve_remote(
    url: &str,
    token: Option<String>,
    wanted: Requirements,
) -> Result<(Resolution, u64), Box<dyn std::error::Error>> {
    let index = AsyncSparseIndex::connect(url, token, &ClientOptions::default()).await?;
    let resolution = run_with_async_source(&index, move |source| {
        Resolver::new(source).resolve_requirements(&wanted)
    })
    .await?;
    Ok((resolution, index.requests()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: async_http INDEX_URL NAME=REQUIREMENT...")?;
    let mut wanted = Requirements::new();
    for pair in args {
        let (name, requirement) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}`: write NAME=REQUIREMENT, e.g. serde=1"))?;
        wanted = wanted.require(name, requirement);
    }
    let token = std::env::var("WHARF_TOKEN").ok();
    let (resolution, requests) = resolve_remote(&url, token, wanted).await?;
    for package in &resolution.packages {
        println!("{} {}", package.name, package.version);
    }
    eprintln!("{requests} requests");
    Ok(())
}

#[cfg(test)]
#[path = "../tests/http/server.rs"]
#[allow(dead_code, reason = "the example uses a part of the tests' server")]
mod server;

/// A single-threaded runtime: were the resolver to block it, the requests it waits for could
/// never be answered and this test would hang instead of passing.
#[tokio::test(flavor = "current_thread")]
async fn resolves_from_a_server_on_loopback() {
    use server::{Answer, TestServer};

    let line = |name: &str, vers: &str, deps: &[(&str, &str)]| {
        let deps: Vec<serde_json::Value> = deps
            .iter()
            .map(|(dep, req)| {
                serde_json::json!({
                    "name": dep, "req": req, "features": [], "optional": false,
                    "default_features": true, "target": null, "kind": "normal"
                })
            })
            .collect();
        serde_json::json!({
            "name": name, "vers": vers, "deps": deps, "cksum": "00", "features": {},
            "yanked": false, "links": null
        })
        .to_string()
    };
    let server = TestServer::start();
    let files = [
        (
            "app-core",
            vec![
                line("app-core", "1.0.0", &[("log", "^0.4")]),
                line("app-core", "1.2.0", &[("log", "^0.4"), ("itoa", "^1")]),
                line("app-core", "2.0.0", &[("log", "^0.3")]),
            ],
        ),
        (
            "log",
            vec![
                line("log", "0.3.9", &[]),
                line("log", "0.4.20", &[]),
                line("log", "0.4.22", &[]),
            ],
        ),
        ("itoa", vec![line("itoa", "1.0.11", &[])]),
    ];
    for (name, lines) in &files {
        server.set(
            &format!("/index/{}", wharf_index_format::index_path(name)),
            Answer::ok(lines.join("\n") + "\n"),
        );
    }
    let wanted = Requirements::new().require("app-core", "1");
    let (resolution, requests) = resolve_remote(&server.index_url(), None, wanted)
        .await
        .unwrap();
    let picked: Vec<String> = resolution
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    assert_eq!(picked, ["app-core 1.2.0", "itoa 1.0.11", "log 0.4.22"]);
    // `config.json` and each of the three files, once.
    assert_eq!(requests, 4);
    assert_eq!(server.seen().len(), 4);
}

//! `SparseIndex` against a real HTTP server on loopback: status codes, auth, gzip, caching,
//! prefetch, and TLS with a throwaway certificate authority.

mod async_source;
mod disk_cache;
mod install;
mod prefetch;
mod retries;
mod server;
mod status;
mod tls;

/// The server path of `name`'s index file.
fn file_path(name: &str) -> String {
    format!("/index/{}", wharf_index_format::index_path(name))
}

/// Options that retry `retries` times with 1 ms waits, so tests of failures stay quick.
fn quick_retries(retries: u32) -> wharf_client::ClientOptions {
    wharf_client::ClientOptions {
        retries,
        retry_delay: std::time::Duration::from_millis(1),
        ..wharf_client::ClientOptions::default()
    }
}

/// One index line for `name` `vers` with normal dependencies `(name, req)`.
fn line(name: &str, vers: &str, deps: &[(&str, &str)]) -> String {
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
}

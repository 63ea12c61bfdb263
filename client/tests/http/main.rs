//! `SparseIndex` against a real HTTP server on loopback: status codes, auth, gzip, caching,
//! prefetch, and TLS with a throwaway certificate authority.

mod prefetch;
mod server;
mod status;
mod tls;

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

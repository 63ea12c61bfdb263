//! The installer's release-verifier seam over real HTTP: every package of the set is handed
//! to the verifier after its SHA-256 check, and a refusal leaves the previous set in use.

use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};
use wharf_client::install::{Installer, Release, ReleaseVerifier, list};
use wharf_resolver::Version;
use wharf_test_support::CrateBuilder;

use crate::file_path;
use crate::server::{Answer, TestServer};

/// Accepts or refuses everything, and remembers what it saw.
struct Recording {
    accept: bool,
    seen: Mutex<Vec<String>>,
}

impl ReleaseVerifier for Recording {
    fn verify(&self, release: &Release<'_>) -> Result<(), String> {
        let digest = hex::encode(Sha256::digest(release.archive));
        assert_eq!(
            digest, release.entry.cksum,
            "verified after the digest check"
        );
        self.seen
            .lock()
            .unwrap()
            .push(format!("{} {}", release.entry.name, release.entry.vers));
        if self.accept {
            Ok(())
        } else {
            Err("signed by an unknown key".to_owned())
        }
    }
}

/// Serves `greeter` at `versions` (each needing `host-api ^1`) with their archives.
fn serve_greeter(server: &TestServer, versions: &[&str]) {
    let mut lines = String::new();
    for version in versions {
        let archive = CrateBuilder::standard("greeter", version).build();
        let cksum = hex::encode(Sha256::digest(&archive));
        let line = serde_json::json!({
            "name": "greeter", "vers": version, "cksum": cksum, "features": {},
            "yanked": false, "links": null,
            "deps": [{"name": "host-api", "req": "^1", "features": [], "optional": false,
                      "default_features": true, "target": null, "kind": "normal"}],
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
        server.set(
            &format!("/dl/greeter/{version}/download"),
            Answer::ok(archive),
        );
    }
    server.set(&file_path("greeter"), Answer::ok(lines));
}

fn verifier(accept: bool) -> Arc<Recording> {
    Arc::new(Recording {
        accept,
        seen: Mutex::new(Vec::new()),
    })
}

#[test]
fn every_release_goes_through_the_verifier_and_a_refusal_keeps_the_previous_set() {
    let server = TestServer::start();
    serve_greeter(&server, &["1.0.0"]);
    let dir = tempfile::tempdir().unwrap();
    let installer = |verifier: Arc<Recording>| {
        Installer::new(dir.path())
            .index_url(server.index_url())
            .host_api(Version::new(1, 0, 0))
            .verifier(verifier)
    };
    let accepting = verifier(true);
    let report = installer(Arc::clone(&accepting))
        .install(&["greeter".parse().unwrap()])
        .unwrap();
    assert_eq!(*accepting.seen.lock().unwrap(), ["greeter 1.0.0"]);
    assert_eq!(report.installed.len(), 1);
    assert!(report.set_dir.join("greeter-1.0.0/src/lib.rs").is_file());

    serve_greeter(&server, &["1.0.0", "1.1.0"]);
    let refusing = verifier(false);
    let error = installer(Arc::clone(&refusing)).update(&[]).unwrap_err();
    assert_eq!(error.code(), "signature-invalid");
    assert_eq!(
        error.to_string(),
        "the signature of greeter 1.1.0 is not valid: signed by an unknown key"
    );
    assert_eq!(*refusing.seen.lock().unwrap(), ["greeter 1.1.0"]);
    let in_use = list(installer(verifier(true)).dir()).unwrap();
    assert_eq!(in_use[0].version, Version::new(1, 0, 0));
    assert!(
        dir.path()
            .join("current/greeter-1.0.0/src/lib.rs")
            .is_file()
    );
}

//! `wharf serve --data DIR` on a mirror directory: the copy served read-only like a
//! registry, changes refused naming the upstream, a finished sync served without a restart,
//! and cargo building through it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{
    CargoEnv, CrateProject, TestRegistry, TestResult, describe, http_client_builder, wharf_binary,
};

/// A `wharf serve --data <mirror dir>` child process (a synced mirror or an imported bundle),
/// killed on drop.
pub(crate) struct MirrorServer {
    child: Child,
    /// The server's base URL.
    pub(crate) url: String,
}

impl MirrorServer {
    /// Starts `wharf serve --data DATA` on a free loopback port and waits for its address.
    pub(crate) fn start(data: &Path) -> Self {
        let mut child = Command::new(wharf_binary())
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wharf serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("wharf: serving on ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_mins(1))
            .expect("the mirror server prints its address");
        Self { child, url }
    }
}

impl Drop for MirrorServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sync(upstream: &TestRegistry, mirror: &Path) -> Output {
    Command::new(wharf_binary())
        .args(["mirror", "sync", "--from"])
        .arg(upstream.index_url())
        .arg("--data")
        .arg(mirror)
        .output()
        .expect("wharf runs")
}

fn get(url: &str) -> reqwest::blocking::Response {
    http_client_builder()
        .build()
        .expect("a client")
        .get(url)
        .send()
        .expect("the server answers")
}

fn body(url: &str) -> Vec<u8> {
    let response = get(url);
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().expect("a body").to_vec()
}

fn cksums(index_file: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(index_file)
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
            entry["cksum"].as_str().expect("a cksum").to_owned()
        })
        .collect()
}

#[test]
fn a_served_mirror_answers_like_its_upstream_refuses_changes_and_serves_the_next_sync() -> TestResult
{
    let upstream = TestRegistry::start();
    for (name, version) in [("aa", "1.0.0"), ("bbb", "1.0.0")] {
        let response = upstream
            .http()
            .put(format!("{}/api/v1/crates/new", upstream.url()))
            .header("Authorization", &upstream.admin_token)
            .body(publish_body(name, version))
            .send()?;
        assert_eq!(response.status(), 200);
    }
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror");
    let first = sync(&upstream, &mirror);
    assert!(first.status.success(), "{}", describe(&first));
    let server = MirrorServer::start(&mirror);
    let (up, here) = (upstream.url(), server.url.clone());

    // The mirror's own config.json; the same lines and byte-identical blobs as upstream.
    let config: serde_json::Value =
        serde_json::from_slice(&body(&format!("{here}/index/config.json")))?;
    assert_eq!(
        config["dl"],
        format!("{here}/blobs/sha256/{{sha256-checksum}}")
    );
    assert_eq!(config["api"], here);
    for path in ["2/aa", "3/b/bbb"] {
        let file = body(&format!("{up}/index/{path}"));
        assert_eq!(body(&format!("{here}/index/{path}")), file, "{path}");
        for cksum in cksums(&file) {
            assert_eq!(
                body(&format!("{here}/blobs/sha256/{cksum}")),
                body(&format!("{up}/blobs/sha256/{cksum}"))
            );
        }
    }
    assert_eq!(
        body(&format!("{here}/api/v1/crates/aa/1.0.0/download")),
        body(&format!("{up}/api/v1/crates/aa/1.0.0/download"))
    );

    // cargo's caching: an ETag and a 304 for it; a missing file is 404, never 403.
    let first_answer = get(&format!("{here}/index/2/aa"));
    let etag = first_answer.headers()["etag"].to_str()?.to_owned();
    let again = http_client_builder()
        .build()?
        .get(format!("{here}/index/2/aa"))
        .header("If-None-Match", &etag)
        .send()?;
    assert_eq!(again.status(), 304);
    for missing in [
        "index/3/z/zzz",
        "index/../mirror.json",
        "blobs/sha256/00",
        "api/v1/crates/aa/9.9.9/download",
    ] {
        assert_eq!(get(&format!("{here}/{missing}")).status(), 404, "{missing}");
    }

    // Changes are refused with 405, naming the upstream; nothing changes.
    let client = http_client_builder().build()?;
    let refusals = [
        client
            .put(format!("{here}/api/v1/crates/new"))
            .header("Authorization", &upstream.admin_token)
            .body(publish_body("aa", "2.0.0")),
        client.delete(format!("{here}/api/v1/crates/aa/1.0.0/yank")),
        client
            .put(format!("{here}/api/v1/crates/aa/owners"))
            .body(r#"{"users":["x"]}"#),
    ];
    for request in refusals {
        let response = request.send()?;
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, HEAD");
        let text = response.text()?;
        assert!(text.contains("read-only mirror of"), "{text}");
        assert!(text.contains(&upstream.index_url()), "{text}");
    }
    assert_eq!(cksums(&body(&format!("{here}/index/2/aa"))).len(), 1);

    // A new upstream version, synced while the mirror runs, is served by it at once.
    let response = upstream
        .http()
        .put(format!("{up}/api/v1/crates/new"))
        .header("Authorization", &upstream.admin_token)
        .body(publish_body("aa", "1.1.0"))
        .send()?;
    assert_eq!(response.status(), 200);
    let second = sync(&upstream, &mirror);
    assert!(second.status.success(), "{}", describe(&second));
    let now = body(&format!("{here}/index/2/aa"));
    assert_eq!(now, body(&format!("{up}/index/2/aa")));
    assert_eq!(cksums(&now).len(), 2);
    let changed = http_client_builder()
        .build()?
        .get(format!("{here}/index/2/aa"))
        .header("If-None-Match", &etag)
        .send()?;
    assert_eq!(changed.status(), 200, "the old ETag no longer matches");
    Ok(())
}

#[test]
fn cargo_builds_a_project_from_a_served_mirror() -> TestResult {
    let upstream = TestRegistry::start();
    let publisher = CargoEnv::new(&upstream.index_url());
    publisher.login(&upstream.admin_token);
    let lib = CrateProject::new("mirrored-lib", "1.2.0")
        .lib("pub fn answer() -> u32 { 42 }")
        .write(publisher.work_dir());
    publisher.cargo_ok(&lib, &["publish", "--registry", "wharf", "--no-verify"]);
    upstream.settle();

    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror");
    let synced = sync(&upstream, &mirror);
    assert!(synced.status.success(), "{}", describe(&synced));
    let server = MirrorServer::start(&mirror);
    drop(upstream);

    // With the upstream gone, cargo resolves, downloads and builds from the mirror alone.
    let cargo = CargoEnv::new(&format!("sparse+{}/index/", server.url));
    let app = CrateProject::new("mirror-app", "0.1.0")
        .dep("mirrored-lib", r#"{ version = "1", registry = "wharf" }"#)
        .main("fn main() { println!(\"{}\", mirrored_lib::answer()); }")
        .write(cargo.work_dir());
    let run = cargo.cargo_ok(&app, &["run", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "42");
    Ok(())
}

/// The value of one `/metrics` series of a server at `url` (0 when it is not listed yet).
fn metric(url: &str, series: &str) -> u64 {
    let text = String::from_utf8_lossy(&body(&format!("{url}/metrics"))).into_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| value.trim().parse().unwrap_or(0))
}

#[test]
fn a_mirror_of_a_served_mirror_revalidates_its_files_with_etags() -> TestResult {
    let upstream = TestRegistry::start();
    let publish = |version: &str| {
        let response = upstream
            .http()
            .put(format!("{}/api/v1/crates/new", upstream.url()))
            .header("Authorization", &upstream.admin_token)
            .body(publish_body("aa", version))
            .send()
            .expect("publish answers");
        assert_eq!(response.status(), 200);
    };
    publish("1.0.0");
    let dir = tempfile::tempdir()?;
    let first = dir.path().join("first");
    let synced = sync(&upstream, &first);
    assert!(synced.status.success(), "{}", describe(&synced));
    let served = MirrorServer::start(&first);

    // A mirror of the served mirror (no snapshot bins there: the roots choose the files).
    let second = dir.path().join("second");
    let sync_second = || {
        let output = Command::new(wharf_binary())
            .args(["mirror", "sync", "--from"])
            .arg(format!("sparse+{}/index/", served.url))
            .arg("--data")
            .arg(&second)
            .args(["--roots", "aa"])
            .output()
            .expect("wharf runs");
        assert!(output.status.success(), "{}", describe(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let count = |status: &str| {
        metric(
            &served.url,
            &format!(r#"wharf_http_requests_total{{route="index_file",status="{status}"}}"#),
        )
    };
    let said = sync_second();
    assert!(
        said.starts_with("mirrored 1 packages, 1 versions"),
        "{said}"
    );
    let (ok, not_modified) = (count("200"), count("304"));

    // Nothing changed: the file `--roots` follows is revalidated with its ETag (304), the
    // sync reuses that answer and links the file.
    let said = sync_second();
    assert!(
        said.contains("1 index files unchanged"),
        "{said}\n{}",
        std::fs::read_to_string(second.join("current/sync-state.json")).unwrap_or_default()
    );
    assert_eq!(
        count("304") - not_modified,
        1,
        "the file was asked once, with If-None-Match"
    );
    assert_eq!(count("200") - ok, 0, "nothing was downloaded again");

    // A new upstream version reaches the second mirror through the first.
    publish("1.1.0");
    let synced = sync(&upstream, &first);
    assert!(synced.status.success(), "{}", describe(&synced));
    let said = sync_second();
    assert!(said.contains("(1 blobs downloaded, 1 reused)"), "{said}");
    let aa = std::fs::read_to_string(second.join("current/index/2/aa"))?;
    assert_eq!(aa.lines().count(), 2);
    Ok(())
}

//! The restore drill: `wharf admin backup` taken while several threads publish through HTTP,
//! restored with `wharf admin restore` into a new data directory that then verifies clean
//! and serves, its tenant included (database, keys, blobs, served under `/t/acme/`); the same for a registry whose blobs are on a real S3 server (Garage); and a
//! truncated or altered backup refused with one line naming the member.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, http_client_builder, wharf_binary};
use wharf_test_support::garage::GarageServer;

const PUBLISHERS: usize = 4;

/// `wharf <args…>` with `env`, waited for.
pub(crate) fn wharf(args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(wharf_binary())
        .args(args)
        .envs(env.iter().map(|(name, value)| (*name, value)))
        .output()
        .expect("the wharf binary runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn publish(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    name: &str,
    version: &str,
) -> bool {
    http.put(format!("{url}/api/v1/crates/new"))
        .header("Authorization", token)
        .body(publish_body(name, version))
        .send()
        .is_ok_and(|response| response.status() == 200)
}

/// A publish the server acknowledged, and when.
struct Acknowledged {
    name: String,
    version: String,
    at: Instant,
}

/// Threads publishing new versions through HTTP until stopped.
struct PublishLoad {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<Acknowledged>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl PublishLoad {
    fn start(registry: &TestRegistry) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..PUBLISHERS)
            .map(|thread| {
                let (stop, acknowledged) = (Arc::clone(&stop), Arc::clone(&acknowledged));
                let (url, token, http) = (
                    registry.url(),
                    registry.admin_token.clone(),
                    registry.http(),
                );
                std::thread::spawn(move || {
                    let name = format!("drill-{thread}");
                    let mut minor = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let version = format!("0.{minor}.0");
                        if publish(&http, &url, &token, &name, &version) {
                            let at = Instant::now();
                            acknowledged.lock().expect("no publisher panicked").push(
                                Acknowledged {
                                    name: name.clone(),
                                    version,
                                    at,
                                },
                            );
                        }
                        minor += 1;
                    }
                })
            })
            .collect();
        Self {
            stop,
            acknowledged,
            threads,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged
            .lock()
            .expect("no publisher panicked")
            .len()
    }

    /// Waits (up to a minute) until at least `count` publishes were acknowledged.
    fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_mins(1);
        while self.count() < count {
            assert!(
                Instant::now() < deadline,
                "the publishers stalled at {}",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(self) -> Vec<Acknowledged> {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().expect("a publisher panicked");
        }
        Arc::try_unwrap(self.acknowledged)
            .ok()
            .expect("every publisher has stopped")
            .into_inner()
            .expect("no publisher panicked")
    }
}

/// Every `(name, version, cksum)` of the database in `data_dir`.
fn versions_in(data_dir: &Path) -> TestResult<BTreeSet<(String, String, String)>> {
    let conn = rusqlite::Connection::open(data_dir.join("wharf.db"))?;
    let mut statement = conn.prepare(
        "SELECT p.name, v.version, v.cksum FROM versions v JOIN packages p ON p.id = v.package_id",
    )?;
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(rows)
}

/// The path of a blob under `<data>/blobs`.
fn blob_path(data_dir: &Path, cksum: &str) -> PathBuf {
    data_dir
        .join("blobs/sha256")
        .join(&cksum[..2])
        .join(&cksum[2..4])
        .join(cksum)
}

/// `wharf serve` on an existing data directory; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data_dir: &Path, env: &[(&str, String)]) -> Self {
        let mut child = Command::new(wharf_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data_dir)
            .envs(env.iter().map(|(name, value)| (*name, value)))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wharf serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("wharf: serving on ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = sender.send(url);
                }
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_mins(1))
            .expect("the restored registry serves within a minute");
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Takes a backup of `registry` into `out` with `wharf admin backup` and checks it succeeded;
/// returns the command's output (its summary is on stdout).
pub(crate) fn take_backup(registry: &TestRegistry, out: &Path) -> Output {
    let taken = registry.run_on_data(
        &["admin", "backup"],
        &["--out", out.to_str().expect("UTF-8 path")],
    );
    assert!(
        taken.status.success(),
        "backup failed: {}\n{}",
        text(&taken.stdout),
        text(&taken.stderr)
    );
    taken
}

/// Restores `backup` into `target` (extra flags and variables for a bucket) and checks the
/// command reports a clean registry.
pub(crate) fn restore_clean(
    backup: &Path,
    target: &Path,
    extra: &[&str],
    env: &[(&str, String)],
) -> String {
    let mut args = vec![
        "admin",
        "restore",
        backup.to_str().expect("UTF-8 path"),
        "--data",
    ];
    args.push(target.to_str().expect("UTF-8 path"));
    args.extend_from_slice(extra);
    let restored = wharf(&args, env);
    let report = text(&restored.stdout);
    assert!(
        restored.status.success(),
        "restore failed: {report}\n{}",
        text(&restored.stderr)
    );
    assert!(report.contains(": 0 problems"), "{report}");
    assert!(report.contains("restore clean"), "{report}");
    report
}

#[test]
fn backup_during_publish_load_restores_every_publish_acknowledged_before_it() -> TestResult {
    let registry = TestRegistry::start();
    let tenant_cksum = publish_to_tenant(&registry)?;
    let load = PublishLoad::start(&registry);
    load.wait_for(PUBLISHERS * 5);
    let work = tempfile::tempdir()?;
    let backup = work.path().join("registry.wharf-backup");
    let began = Instant::now();
    let taken = registry.run_on_data(
        &["admin", "backup"],
        &["--out", backup.to_str().expect("UTF-8 path")],
    );
    let during = load.count();
    // Keep publishing after the backup, so the drill shows what a snapshot leaves out.
    load.wait_for(during + PUBLISHERS);
    let acknowledged = load.finish();
    let summary = text(&taken.stdout);
    assert!(
        taken.status.success(),
        "backup failed: {summary}\n{}",
        text(&taken.stderr)
    );
    assert!(summary.contains("mode 0600"), "{summary}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&backup)?.permissions());
    assert_eq!(mode & 0o777, 0o600, "the backup holds secret keys");

    let restored = work.path().join("restored");
    restore_clean(&backup, &restored, &[], &[]);
    let versions = versions_in(&restored)?;
    let before: Vec<_> = acknowledged.iter().filter(|ack| ack.at < began).collect();
    assert!(
        !before.is_empty(),
        "no publish was acknowledged before the backup"
    );
    let present: BTreeSet<_> = versions
        .iter()
        .map(|(n, v, _)| (n.clone(), v.clone()))
        .collect();
    for ack in &before {
        assert!(
            present.contains(&(ack.name.clone(), ack.version.clone())),
            "{}@{} was acknowledged before the backup began but is not in the restored registry",
            ack.name,
            ack.version
        );
    }
    // Every version restored was acknowledged (none invented), and every blob verifies.
    let all: BTreeSet<_> = acknowledged
        .iter()
        .map(|a| (a.name.clone(), a.version.clone()))
        .collect();
    assert!(
        present.is_subset(&all),
        "the restore holds versions never acknowledged"
    );
    for (name, version, cksum) in &versions {
        let bytes = std::fs::read(blob_path(&restored, cksum))?;
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            *cksum,
            "{name}@{version}"
        );
    }
    eprintln!(
        "drill: {} publishes acknowledged before the backup, {} restored, {} acknowledged in all",
        before.len(),
        versions.len(),
        acknowledged.len()
    );

    // `wharf admin reconcile` on the restored registry agrees, and it serves.
    let reconciled = wharf(
        &[
            "admin",
            "reconcile",
            "--data",
            restored.to_str().expect("UTF-8"),
        ],
        &[],
    );
    assert!(reconciled.status.success(), "{}", text(&reconciled.stdout));
    assert!(
        text(&reconciled.stdout).contains(": 0 problems"),
        "{}",
        text(&reconciled.stdout)
    );
    let first = before[0];
    let (_, _, cksum) = versions
        .iter()
        .find(|(n, v, _)| *n == first.name && *v == first.version)
        .expect("checked above");
    check_serves(&restored, &first.name, &first.version, cksum)?;
    check_tenant_restored(&restored, &tenant_cksum)
}

/// The tenant of the drill and its one crate.
const TENANT: &str = "acme";
const TENANT_CRATE: &str = "acme-lib";

/// Creates the tenant `acme` and publishes `acme-lib 1.0.0` to it; returns its checksum.
fn publish_to_tenant(registry: &TestRegistry) -> TestResult<String> {
    crate::tenants::create_tenant(registry, TENANT, &[]);
    let token = crate::tenants::tenant_token(registry, TENANT, "owner");
    crate::tenants::wait_for_tenant(registry, TENANT, &token, 200)?;
    let published = registry
        .http()
        .put(format!("{}/t/{TENANT}/api/v1/crates/new", registry.url()))
        .header("Authorization", &token)
        .body(publish_body(TENANT_CRATE, "1.0.0"))
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    let versions = versions_in(&registry.data_dir().join("tenants").join(TENANT))?;
    let (_, _, cksum) = versions
        .into_iter()
        .find(|(name, _, _)| name == TENANT_CRATE)
        .ok_or("the tenant's publish is not in its database")?;
    Ok(cksum)
}

/// The restored data directory holds the tenant (its database, keys, blob) and serves it
/// under `/t/acme/`.
fn check_tenant_restored(restored: &Path, cksum: &str) -> TestResult {
    let tenant = restored.join("tenants").join(TENANT);
    assert!(
        versions_in(&tenant)?
            .iter()
            .any(|(name, version, sum)| name == TENANT_CRATE && version == "1.0.0" && sum == cksum),
        "the tenant's version is not restored"
    );
    assert!(tenant.join("keys").read_dir()?.next().is_some(), "no keys");
    let blob = std::fs::read(blob_path(&tenant, cksum))?;
    assert_eq!(hex::encode(Sha256::digest(&blob)), cksum);
    let server = Server::start(restored, &[]);
    let http = http_client_builder().build()?;
    let base = format!("{}/t/{TENANT}", server.url);
    let index = http
        .get(format!(
            "{base}/index/{}",
            wharf_index_format::index_path(TENANT_CRATE)
        ))
        .send()?;
    assert_eq!(index.status(), 200, "the restored tenant serves its index");
    let download = http
        .get(format!(
            "{base}/api/v1/crates/{TENANT_CRATE}/1.0.0/download"
        ))
        .send()?;
    assert_eq!(download.status(), 200);
    assert_eq!(hex::encode(Sha256::digest(download.bytes()?)), cksum);
    Ok(())
}

/// Starts `wharf serve` on the restored `data_dir` and fetches `name`'s index file and the
/// `.crate` of `version`, which must hash to `cksum`.
fn check_serves(data_dir: &Path, name: &str, version: &str, cksum: &str) -> TestResult {
    let server = Server::start(data_dir, &[]);
    let http = http_client_builder().build()?;
    let index = http
        .get(format!(
            "{}/index/{}",
            server.url,
            wharf_index_format::index_path(name)
        ))
        .send()?;
    assert_eq!(index.status(), 200);
    assert!(index.text()?.contains(&format!("\"vers\":\"{version}\"")));
    let download = http
        .get(format!(
            "{}/api/v1/crates/{name}/{version}/download",
            server.url
        ))
        .send()?;
    assert_eq!(download.status(), 200);
    assert_eq!(hex::encode(Sha256::digest(download.bytes()?)), cksum);
    Ok(())
}

#[test]
fn backup_of_a_registry_with_blobs_on_s3_restores_to_disk_and_to_a_bucket() -> TestResult {
    let garage = GarageServer::start();
    let env = garage.aws_env();
    let bucket = garage.url("backup/source");
    let registry = TestRegistry::start_with_env(&["--storage", bucket.as_str()], &env);
    let http = registry.http();
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        assert!(publish(
            &http,
            &registry.url(),
            &registry.admin_token,
            "s3-drill",
            version
        ));
    }
    let work = tempfile::tempdir()?;
    let backup = work.path().join("s3.wharf-backup");
    let taken = take_backup(&registry, &backup);
    assert!(
        text(&taken.stdout).contains("3 versions"),
        "{}",
        text(&taken.stdout)
    );

    // Onto the disk: the blobs come out of the bucket into `<data>/blobs`.
    let on_disk = work.path().join("on-disk");
    restore_clean(&backup, &on_disk, &[], &[]);
    for (_, _, cksum) in versions_in(&on_disk)? {
        let bytes = std::fs::read(blob_path(&on_disk, &cksum))?;
        assert_eq!(hex::encode(Sha256::digest(&bytes)), cksum);
    }
    // Into another prefix of the bucket: the restored registry records it and serves from it.
    let target = garage.url("backup/restored");
    let in_bucket = work.path().join("in-bucket");
    restore_clean(&backup, &in_bucket, &["--storage", target.as_str()], &env);
    assert_eq!(
        std::fs::read_to_string(in_bucket.join("blob-storage"))?.trim(),
        target
    );
    let server = Server::start(&in_bucket, &env);
    let client = http_client_builder().build()?;
    let download = client
        .get(format!(
            "{}/api/v1/crates/s3-drill/2.0.0/download",
            server.url
        ))
        .send()?;
    assert_eq!(download.status(), 200);
    let expected: Vec<_> = versions_in(&in_bucket)?
        .into_iter()
        .filter(|(_, v, _)| v == "2.0.0")
        .map(|(_, _, cksum)| cksum)
        .collect();
    assert_eq!(
        vec![hex::encode(Sha256::digest(download.bytes()?))],
        expected
    );
    Ok(())
}

/// Rewrites the backup at `from` into `to`, passing every member's bytes through `edit`.
pub(crate) fn rewrite(from: &Path, to: &Path, edit: &dyn Fn(&str, &mut Vec<u8>)) -> TestResult {
    let mut archive = tar::Archive::new(zstd::Decoder::new(std::fs::File::open(from)?)?);
    let mut out = tar::Builder::new(zstd::Encoder::new(std::fs::File::create(to)?, 3)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        edit(&path, &mut bytes);
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        out.append_data(&mut header, &path, bytes.as_slice())?;
    }
    out.into_inner()?.finish()?;
    Ok(())
}

/// Restores `backup` and expects a refusal naming `member`, with nothing left at the target.
fn refused(backup: &Path, target: &Path, member: &str, cause: &str) {
    refused_with(backup, target, &[], member, cause);
}

/// [`refused`] with `extra` flags for `wharf admin restore`.
pub(crate) fn refused_with(
    backup: &Path,
    target: &Path,
    extra: &[&str],
    member: &str,
    cause: &str,
) {
    let mut args = vec![
        "admin",
        "restore",
        backup.to_str().expect("UTF-8"),
        "--data",
        target.to_str().expect("UTF-8"),
    ];
    args.extend_from_slice(extra);
    let output = wharf(&args, &[]);
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "an altered backup was restored: {}",
        text(&output.stdout)
    );
    assert!(stderr.contains(&format!("`{member}`")), "{stderr}");
    assert!(stderr.contains(cause), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        !target.exists(),
        "a refused restore left `{}`",
        target.display()
    );
    let parent = target.parent().expect("a parent");
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .expect("the parent exists")
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(".wharf-restore-")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "a refused restore left its scratch directory"
    );
}

#[test]
fn a_truncated_or_altered_backup_is_refused_naming_the_member() -> TestResult {
    let registry = TestRegistry::start();
    let http = registry.http();
    for version in ["1.0.0", "1.0.1"] {
        assert!(publish(
            &http,
            &registry.url(),
            &registry.admin_token,
            "tamper",
            version
        ));
    }
    let work = tempfile::tempdir()?;
    let good = work.path().join("good.wharf-backup");
    take_backup(&registry, &good);
    let target = work.path().join("target");

    // Cut short: the file ends inside a member (or right after one, before the manifest).
    let bytes = std::fs::read(&good)?;
    let truncated = work.path().join("truncated.wharf-backup");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2])?;
    let output = wharf(
        &[
            "admin",
            "restore",
            truncated.to_str().expect("UTF-8"),
            "--data",
            target.to_str().expect("UTF-8"),
        ],
        &[],
    );
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("truncated") && stderr.contains("member `"),
        "{stderr}"
    );
    assert!(!target.exists());

    // One byte of a blob changed: its hash no longer matches its name.
    let blob_changed = work.path().join("blob.wharf-backup");
    rewrite(&good, &blob_changed, &|path, bytes| {
        if path.starts_with("blobs/") && path.ends_with(&hex::encode(Sha256::digest(&*bytes))) {
            bytes[0] ^= 1;
        }
    })?;
    let blob = {
        let mut archive = tar::Archive::new(zstd::Decoder::new(std::fs::File::open(&good)?)?);
        let mut blobs = archive
            .entries()?
            .filter_map(Result::ok)
            .filter_map(|entry| entry.path().ok().map(|p| p.to_string_lossy().into_owned()))
            .filter(|path| path.starts_with("blobs/"));
        blobs.next().expect("the backup holds blobs")
    };
    refused(&blob_changed, &target, &blob, "sha256");

    // The database changed: it no longer matches the manifest.
    let db_changed = work.path().join("db.wharf-backup");
    rewrite(&good, &db_changed, &|path, bytes| {
        if path == "wharf.db" {
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
        }
    })?;
    refused(
        &db_changed,
        &target,
        "wharf.db",
        "differs from the manifest",
    );

    // A member smuggled in: refused by name before anything is written.
    let smuggled = work.path().join("smuggled.wharf-backup");
    {
        let mut out = tar::Builder::new(zstd::Encoder::new(std::fs::File::create(&smuggled)?, 3)?);
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_mode(0o600);
        out.append_data(&mut header, "index/ev/il/evil", &b"evil"[..])?;
        out.into_inner()?.finish()?;
    }
    refused(&smuggled, &target, "index/ev/il/evil", "no backup holds");

    // A non-empty target is refused before the backup is read.
    std::fs::create_dir_all(&target)?;
    std::fs::write(target.join("keep-me"), "x")?;
    let output = wharf(
        &[
            "admin",
            "restore",
            good.to_str().expect("UTF-8"),
            "--data",
            target.to_str().expect("UTF-8"),
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("not empty"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(std::fs::read_dir(&target)?.count(), 1);
    Ok(())
}

//! A publisher process killed with SIGKILL loses nothing it acknowledged, and reopening
//! leaves a consistent state.
//!
//! The test re-runs its own test binary as the child process (selected by an environment
//! variable): the child publishes in a loop and prints one `ACK` line per acknowledged
//! publish; the parent kills it after a number of acknowledgements, then reopens the data.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::support::{TestResult, admin, open, upload};

const CHILD_DIR_VAR: &str = "WHARF_STORAGE_CRASH_CHILD_DIR";
const TEST_NAME: &str = "crash::a_killed_publisher_loses_nothing_it_acknowledged";
/// Acknowledgements the parent waits for before killing the child.
const ACKS_BEFORE_KILL: usize = 40;
/// Upper bound of the child's publishes, so it stops by itself if never killed.
const CHILD_MAX_PUBLISHES: usize = 5_000;

fn child(dir: &str) -> TestResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage = open(std::path::Path::new(dir)).await;
        let alice = admin(&storage, "alice");
        let mut tasks = Vec::new();
        for publisher in 0..4 {
            let (storage, alice) = (storage.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..CHILD_MAX_PUBLISHES / 4 {
                    let name = format!("crash-{}", i % 3);
                    let version = format!("{publisher}.{i}.0");
                    storage.publish(&alice, upload(&name, &version)).await?;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {name} {version}")?;
                    out.flush()?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }));
        }
        for task in tasks {
            task.await?.map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

#[test]
fn a_killed_publisher_loses_nothing_it_acknowledged() -> TestResult {
    if let Ok(dir) = std::env::var(CHILD_DIR_VAR) {
        return child(&dir);
    }
    let dir = tempfile::tempdir()?;
    let mut process = Command::new(std::env::current_exe()?)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = process.stdout.take().ok_or("child stdout is piped")?;
    let mut acknowledged = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (name, version) = rest.split_once(' ').ok_or("ACK line has two words")?;
            acknowledged.push((name.to_owned(), version.to_owned()));
            if acknowledged.len() == ACKS_BEFORE_KILL {
                process.kill()?;
                break;
            }
        }
    }
    process.wait()?;
    assert_eq!(
        acknowledged.len(),
        ACKS_BEFORE_KILL,
        "the child acknowledged enough"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage = open(dir.path()).await;
        for (name, version) in &acknowledged {
            assert!(
                storage.version_cksum(name, version).await?.is_some(),
                "{name} {version} was acknowledged"
            );
            let file = storage.index_file(name).await?.ok_or("package exists")?;
            let text = String::from_utf8(file.bytes.to_vec())?;
            assert!(text.contains(&format!(r#""vers":"{version}""#)));
            let on_disk = std::fs::read(dir.path().join("index").join(&file.path))?;
            assert_eq!(on_disk, file.bytes, "open reconciled {name}");
        }
        let seqs: Vec<u64> = storage
            .events(0, usize::MAX)?
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=u64::try_from(seqs.len())?).collect::<Vec<_>>());
        let report = storage.verify().await?;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        Ok(())
    })
}

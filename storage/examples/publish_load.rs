//! Publish throughput on the local backend: `N` concurrent publishers, each publishing `M`
//! small versions, every one durable (blob fsynced, commit with `synchronous=FULL`) before it
//! is acknowledged.
//!
//! ```text
//! cargo run --release -p wharf-storage --example publish_load -- [publishers] [per-publisher] [mixed|distinct] [data-dir]
//! ```
//!
//! `mixed` (the default) sends every second publish of every publisher to one shared package,
//! so that package's index file grows long and is rewritten concurrently; `distinct` gives
//! each publisher its own package. Without a data directory a temporary one is used. Prints
//! one summary line.

use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wharf_index_format::IndexEntry;
use wharf_index_format::PackageMetadata;
use wharf_storage::{BlobBackend, NewToken, Scope, Storage, StorageConfig, Upload};

fn upload(name: &str, version: &str) -> Upload {
    let bytes = Bytes::from(format!("{name}-{version} tarball {}", "x".repeat(2000)));
    let cksum = hex::encode(Sha256::digest(&bytes));
    let line = format!(
        r#"{{"name":"{name}","vers":"{version}","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false,"links":null}}"#
    );
    Upload {
        entry: IndexEntry::from_line(&line).expect("valid line"),
        crate_bytes: bytes,
        metadata: PackageMetadata::default(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let publishers: usize = args.next().map_or(Ok(16), |a| a.parse())?;
    let per_publisher: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let shared = match args.next().as_deref() {
        None | Some("mixed") => true,
        Some("distinct") => false,
        Some(other) => return Err(format!("unknown mode `{other}`: use mixed or distinct").into()),
    };
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);

    let storage = Storage::open(StorageConfig {
        data_dir,
        blobs: BlobBackend::Local,
    })
    .await?;
    let token = storage.create_token(NewToken {
        user: "load".into(),
        scopes: Scope::ALL.to_vec(),
        expires_at: None,
        name_patterns: vec![],
        label: None,
    })?;
    let who = storage.authenticate(token.secret.expose())?;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for publisher in 0..publishers {
        let (storage, who) = (storage.clone(), who.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_publisher {
                // Each publisher alternates between its own package and a shared one.
                let name = if !shared || i % 2 == 0 {
                    format!("load-{publisher}")
                } else {
                    "load-shared".to_owned()
                };
                let version = format!("{publisher}.{i}.0");
                storage.publish(&who, upload(&name, &version)).await?;
            }
            Ok::<_, wharf_storage::StorageError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let mode = if shared { "mixed" } else { "distinct" };
    let total = publishers * per_publisher;
    let total_f = f64::from(u32::try_from(total)?);
    let problems = storage.verify().await?.problems.len();
    println!(
        "{total} {mode} publishes by {publishers} publishers in {:.2} s: {:.0} publishes/s ({problems} verify problems)",
        elapsed.as_secs_f64(),
        total_f / elapsed.as_secs_f64()
    );
    Ok(())
}

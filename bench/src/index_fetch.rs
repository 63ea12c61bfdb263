//! Downloading index files with their `ETag`s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::BenchError;

/// One index file as a server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedIndexFile {
    /// The path under `/index/` (`ka/mo/kamo-s1`).
    pub path: String,
    /// The `ETag` header, verbatim (quotes included).
    pub etag: String,
    /// The body length.
    pub len: usize,
}

/// GETs `/index/{path}` from `base_url` for every path (without `Accept-Encoding`, so the
/// identity bytes), `concurrency` at a time. With `out_dir`, each body is written to
/// `out_dir/index/{path}`, the tree a static file server can serve at the same URLs. Any
/// status but 200, or a missing `ETag`, is an error.
pub async fn fetch_index_files(
    base_url: &str,
    paths: &[String],
    out_dir: Option<&Path>,
    concurrency: usize,
) -> Result<Vec<FetchedIndexFile>, BenchError> {
    let client = crate::http_client::client_builder()
        .no_proxy()
        .no_gzip()
        .build()
        .map_err(BenchError::Client)?;
    let base = base_url.trim_end_matches('/').to_owned();
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let tasks: Vec<_> = paths
        .iter()
        .map(|path| {
            let (client, permits) = (client.clone(), Arc::clone(&permits));
            let url = format!("{base}/index/{path}");
            let target = out_dir.map(|dir| dir.join("index").join(path));
            let path = path.clone();
            tokio::spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                fetch_one(&client, url, path, target).await
            })
        })
        .collect();
    let mut fetched = Vec::with_capacity(tasks.len());
    for task in tasks {
        fetched.push(task.await??);
    }
    Ok(fetched)
}

async fn fetch_one(
    client: &reqwest::Client,
    url: String,
    path: String,
    target: Option<PathBuf>,
) -> Result<FetchedIndexFile, BenchError> {
    let http_error = |source| BenchError::Http {
        url: url.clone(),
        source,
    };
    let response = client.get(&url).send().await.map_err(http_error)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(BenchError::Status { url, status });
    }
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.bytes().await.map_err(http_error)?;
    let Some(etag) = etag else {
        return Err(BenchError::MissingEtag { url });
    };
    if let Some(target) = target {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BenchError::Io { path, source }
        };
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io_error(parent))?;
        }
        tokio::fs::write(&target, &bytes)
            .await
            .map_err(io_error(&target))?;
    }
    Ok(FetchedIndexFile {
        path,
        etag,
        len: bytes.len(),
    })
}

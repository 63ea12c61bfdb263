//! A steady load of index reads for a while: for drills that count the requests a registry
//! (or the balancer in front of its nodes) failed while nodes were killed and restarted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{BenchError, LatencySummary};

/// What [`read_for`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReport {
    /// Requests sent.
    pub total: usize,
    /// Requests answered with another status than 200, or not answered at all.
    pub failed: usize,
    /// The first few failures (`path: status or error`).
    pub examples: Vec<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of every request.
    pub latency: Option<LatencySummary>,
}

/// GETs `{base_url}/index/{path}` for the `paths` in turn, `concurrency` requests at a time,
/// until `duration` has passed; every answer other than a 200 counts as a failure.
///
/// # Errors
/// [`BenchError::Client`] when no HTTP client can be built.
pub async fn read_for(
    base_url: &str,
    paths: Vec<String>,
    concurrency: usize,
    duration: Duration,
) -> Result<ReadReport, BenchError> {
    let client = crate::http_client::client_builder()
        .no_proxy()
        .no_gzip()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(BenchError::Client)?;
    let base = base_url.trim_end_matches('/').to_owned();
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, paths, next, base) = (
                client.clone(),
                Arc::clone(&paths),
                Arc::clone(&next),
                base.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = Vec::new();
                while started.elapsed() < duration && !paths.is_empty() {
                    let path = &paths[next.fetch_add(1, Ordering::Relaxed) % paths.len()];
                    let sent = Instant::now();
                    let answer = client.get(format!("{base}/index/{path}")).send().await;
                    let outcome = match answer {
                        Ok(response) if response.status() == 200 => response
                            .bytes()
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                        Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
                        Err(error) => Err(error.to_string()),
                    };
                    latencies.push(sent.elapsed());
                    if let Err(error) = outcome {
                        failures.push(format!("{path}: {error}"));
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for worker in workers {
        let (mut more, mut failed) = worker.await.unwrap_or_default();
        latencies.append(&mut more);
        failures.append(&mut failed);
    }
    Ok(ReadReport {
        total: latencies.len(),
        failed: failures.len(),
        examples: failures.into_iter().take(5).collect(),
        elapsed: started.elapsed(),
        latency: LatencySummary::from_samples(latencies),
    })
}

//! Concurrent publishers: prebuilt bodies, N workers, one clock around the whole run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{BenchError, LatencySummary, PublishUpload};

/// Where and as whom to publish.
#[derive(Debug, Clone)]
pub struct PublishTarget {
    client: reqwest::Client,
    endpoint: String,
    token: String,
}

impl PublishTarget {
    /// A target for the registry at `base_url` (e.g. `http://127.0.0.1:8080`) and an API token.
    /// The client keeps one keep-alive connection per concurrent publisher.
    pub fn new(base_url: &str, token: &str) -> Result<Self, BenchError> {
        let client = crate::http_client::client_builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_mins(1))
            .build()
            .map_err(BenchError::Client)?;
        Ok(Self {
            client,
            endpoint: format!("{}/api/v1/crates/new", base_url.trim_end_matches('/')),
            token: token.trim().to_owned(),
        })
    }

    /// Yanks `name` `version` (`DELETE /api/v1/crates/{name}/{version}/yank`); the status,
    /// or the client error as text.
    pub async fn yank(&self, name: &str, version: &str) -> Result<u16, String> {
        let api = self.endpoint.trim_end_matches("/new");
        let response = self
            .client
            .delete(format!("{api}/{name}/{version}/yank"))
            .header(reqwest::header::AUTHORIZATION, &self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    }

    /// Sends one publish; the status, or the client error as text.
    async fn publish(&self, upload: &PublishUpload) -> Result<(u16, String), String> {
        let mut request = self
            .client
            .put(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.token)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &upload.headers {
            request = request.header(*name, value);
        }
        let response = request
            .body(upload.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, text))
    }
}

/// A publish that did not get a 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFailure {
    /// Position of the body in the list given to [`publish_all`].
    pub index: usize,
    /// The status, or `None` when no answer came.
    pub status: Option<u16>,
    /// The answer's body or the client's error (shortened).
    pub detail: String,
}

/// The outcome of a publish run.
#[derive(Debug, Clone)]
pub struct PublishReport {
    /// How many publishes were attempted.
    pub attempted: usize,
    /// How many got a 200.
    pub succeeded: usize,
    /// Every publish that did not.
    pub failures: Vec<PublishFailure>,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Latency of every request, successful or not.
    pub latency: Option<LatencySummary>,
    /// How many publishers ran at once.
    pub concurrency: usize,
}

impl PublishReport {
    /// Acknowledged (200) publishes per second of wall time.
    pub fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds == 0.0 {
            return 0.0;
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "publish counts are far below 2^52"
        )]
        let succeeded = self.succeeded as f64;
        succeeded / seconds
    }
}

/// Publishes every body (plain [`Bytes`](bytes::Bytes) or a [`PublishUpload`] with headers) with
/// `concurrency` publishers working through the list in order. The clock starts when the
/// first publisher starts, after every body was built.
pub async fn publish_all<U: Into<PublishUpload>>(
    target: &PublishTarget,
    bodies: Vec<U>,
    concurrency: usize,
) -> Result<PublishReport, BenchError> {
    let bodies: Vec<PublishUpload> = bodies.into_iter().map(Into::into).collect();
    let concurrency = concurrency.max(1);
    let attempted = bodies.len();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (target, bodies, next) = (target.clone(), Arc::clone(&bodies), Arc::clone(&next));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(index) else {
                        break;
                    };
                    let sent = Instant::now();
                    let outcome = target.publish(body).await;
                    latencies.push(sent.elapsed());
                    match outcome {
                        Ok((200, _)) => {}
                        Ok((status, text)) => {
                            tracing::debug!(index, status, body = %text, "publish refused");
                            failures.push(PublishFailure {
                                index,
                                status: Some(status),
                                detail: shorten(&text),
                            });
                        }
                        Err(error) => {
                            tracing::debug!(index, %error, "publish got no answer");
                            failures.push(PublishFailure {
                                index,
                                status: None,
                                detail: shorten(&error),
                            });
                        }
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(attempted);
    let mut failures = Vec::new();
    for worker in workers {
        let (worker_latencies, worker_failures) = worker.await?;
        latencies.extend(worker_latencies);
        failures.extend(worker_failures);
    }
    let elapsed = start.elapsed();
    failures.sort_by_key(|f| f.index);
    Ok(PublishReport {
        attempted,
        succeeded: attempted - failures.len(),
        failures,
        elapsed,
        latency: LatencySummary::from_samples(latencies),
        concurrency,
    })
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

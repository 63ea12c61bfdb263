//! `wharf-many-conns`: holds thousands of keep-alive HTTP/1.1 connections to a server and
//! sends index GETs across them at a steady total rate, then prints the latency percentiles.
//!
//! All connections are opened first (at `--connect-rate` per second, not measured). Then
//! connection `i` of `N` sends one request every `N / rate` seconds, offset by `i / rate`, so
//! requests arrive evenly spread and every connection stays busy enough not to be idle-closed.
//! A request's latency runs from the moment it was due (not when it was sent), so a slow
//! answer that delays the next request on its connection is counted against the server rather
//! than hidden (no coordinated omission). Requests due during `--warmup` are sent but not
//! measured. Paths come from a file of index paths (one per line, optionally followed by a tab
//! and more), as `wharf-load seed --paths-out` writes them; each request picks one at random.
//!
//! The last line on stdout is machine-readable:
//! `MANY_RESULT connections=N sent=S requests=M errors=E seconds=D rps=R p50_us=… p90_us=…
//! p99_us=… max_us=…` (`sent` counts the warm-up too; `requests` and the percentiles only the
//! measured window). The exit status is 1 when any request failed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use rand::{Rng as _, SeedableRng as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use wharf_bench::LatencySummary;

/// Index GETs at a steady rate over many keep-alive connections.
#[derive(Debug, Parser)]
#[command(name = "wharf-many-conns", version, about, long_about = None)]
struct Cli {
    /// The server, `http://HOST:PORT`.
    #[arg(long)]
    url: String,
    /// Index paths (relative to /index/), one per line.
    #[arg(long)]
    paths: PathBuf,
    /// Connections to hold open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Requests per second across all connections.
    #[arg(long, default_value_t = 2_000)]
    rate: u32,
    /// New connections per second while opening them.
    #[arg(long, default_value_t = 5_000)]
    connect_rate: u32,
    /// Requests due in this first stretch are sent but not measured.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    warmup: Duration,
    /// The measured stretch after the warm-up.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    duration: Duration,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// What one connection saw.
#[derive(Debug, Default)]
struct ConnectionReport {
    sent: u64,
    measured: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let addr = cli
        .url
        .strip_prefix("http://")
        .context("--url must be http://HOST:PORT")?
        .trim_end_matches('/')
        .to_owned();
    let text = std::fs::read_to_string(&cli.paths)
        .with_context(|| format!("reading `{}`", cli.paths.display()))?;
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        text.lines()
            .filter_map(|line| line.split('\t').next())
            .filter(|path| !path.trim().is_empty())
            .map(|path| format!("GET /index/{path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes())
            .collect(),
    );
    if requests.is_empty() {
        bail!("no index paths in `{}`", cli.paths.display());
    }
    if cli.connections == 0 || cli.rate == 0 {
        bail!("--connections and --rate must be above 0");
    }

    eprintln!("opening {} connections to {addr}", cli.connections);
    let opened = Instant::now();
    let mut pace = tokio::time::interval(Duration::from_secs(1) / cli.connect_rate.max(1));
    let mut streams = Vec::with_capacity(cli.connections);
    for i in 0..cli.connections {
        pace.tick().await;
        let stream = TcpStream::connect(&addr)
            .await
            .with_context(|| format!("opening connection {} of {}", i + 1, cli.connections))?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    eprintln!(
        "{} connections open after {:.1}s; sending {} requests/s",
        streams.len(),
        opened.elapsed().as_secs_f64(),
        cli.rate
    );

    let connections = u32::try_from(cli.connections).context("--connections too large")?;
    let period = Duration::from_secs(1) * connections / cli.rate;
    let step = Duration::from_secs(1) / cli.rate;
    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + cli.warmup;
    let end = measure_from + cli.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, stream) in streams.into_iter().enumerate() {
        let requests = Arc::clone(&requests);
        let offset = step * u32::try_from(i).unwrap_or(u32::MAX);
        tasks.spawn(async move {
            drive(
                stream,
                &requests,
                i as u64,
                start + offset,
                period,
                measure_from,
                end,
            )
            .await
        });
    }
    let mut total = ConnectionReport::default();
    while let Some(report) = tasks.join_next().await {
        let report = report.context("a connection task panicked")?;
        total.sent += report.sent;
        total.errors += report.errors;
        total.measured.extend(report.measured);
        if total.first_error.is_none() {
            total.first_error = report.first_error;
        }
    }
    if let Some(error) = &total.first_error {
        eprintln!("first error: {error}");
    }
    let requests = total.measured.len();
    let summary = LatencySummary::from_samples(total.measured).context("nothing was measured")?;
    let seconds = cli.duration.as_secs_f64();
    let mut line = String::new();
    #[expect(clippy::cast_precision_loss, reason = "request counts far below 2^52")]
    let rps = requests as f64 / seconds;
    let _ = write!(
        line,
        "MANY_RESULT connections={} sent={} requests={requests} errors={} seconds={seconds:.1} rps={rps:.1} p50_us={} p90_us={} p99_us={} max_us={}",
        cli.connections,
        total.sent,
        total.errors,
        summary.p50.as_micros(),
        summary.p90.as_micros(),
        summary.p99.as_micros(),
        summary.max.as_micros()
    );
    println!("{line}");
    Ok(total.errors == 0)
}

/// Sends one request per `period` on `stream` from `first` until `end`, reading each answer
/// whole; records the latency of those due from `measure_from` on.
async fn drive(
    mut stream: TcpStream,
    requests: &[Vec<u8>],
    seed: u64,
    first: Instant,
    period: Duration,
    measure_from: Instant,
    end: Instant,
) -> ConnectionReport {
    let mut report = ConnectionReport::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut ticks = tokio::time::interval_at(first, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let due = ticks.tick().await;
        if due >= end {
            return report;
        }
        let request = &requests[rng.random_range(0..requests.len())];
        report.sent += 1;
        let outcome = exchange(&mut stream, request, &mut buffer).await;
        match outcome {
            Ok(()) => {
                if due >= measure_from {
                    report.measured.push(due.elapsed());
                }
            }
            Err(error) => {
                report.errors += 1;
                report.first_error.get_or_insert(error);
                // The connection is unusable; its remaining requests are not sent.
                return report;
            }
        }
    }
}

/// Writes `request` and reads one whole `200` answer (head and `Content-Length` body).
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<(), String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("writing a request: {e}"))?;
    buffer.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading an answer: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".to_owned());
        }
        buffer.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(buffer) {
            Ok(httparse::Status::Complete(head)) => head,
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(format!("an unreadable answer: {e}")),
        };
        if response.code != Some(200) {
            return Err(format!("status {:?}", response.code));
        }
        let length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .ok_or("an answer without Content-Length")?;
        if buffer.len() >= head + length {
            return Ok(());
        }
    }
}

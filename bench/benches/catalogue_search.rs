//! Catalogue search latency: p50 and p99 of `Storage::catalogue_search` (full-text search,
//! ranking, filters, the catalogue's joins) at 500 and 50,000 packages, against a plain
//! `LIKE '%word%'` query over names and descriptions on the same database in the same run,
//! the two alternating round by round.
//!
//! Packages are published through the real publish path (in-memory blobs, the SQLite file
//! in a temporary directory) with seeded descriptions, keywords and READMEs. Run with
//! `scripts/bench/search.sh` (release build); `CATALOGUE_BENCH_SIZES=500` limits the sizes.
//! `CATALOGUE_BENCH_ENGINE=postgres` keeps the metadata on a throwaway PostgreSQL cluster
//! instead (`tsvector` search; the baseline is `ILIKE '%word%'` on its own connection). On
//! SQLite measuring starts once the writer has compacted the full-text index after the
//! publishes, as a server's does while publishes pause.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use wharf_index_format::PackageMetadata;
use wharf_storage::{
    BlobBackend, CatalogueQuery, MetadataDatabase, NewToken, Scope, Storage, StorageConfig, Upload,
};
use wharf_test_support::pkg;
use wharf_test_support::postgres::PostgresServer;

/// Words descriptions, keywords and READMEs are drawn from.
const WORDS: &[&str] = &[
    "http",
    "client",
    "server",
    "async",
    "retry",
    "queue",
    "email",
    "storage",
    "json",
    "parser",
    "sql",
    "connector",
    "webhook",
    "schedule",
    "timer",
    "mapper",
    "cache",
    "stream",
    "auth",
    "token",
    "crypto",
    "hash",
    "log",
    "metrics",
    "trace",
    "config",
    "cli",
    "template",
    "render",
    "image",
    "archive",
    "compress",
    "notify",
    "approval",
    "flow",
    "pipeline",
    "batch",
    "event",
    "socket",
    "file",
];

/// Queries measured, each run many times.
const QUERIES: &[&str] = &["http", "retry queue", "sql connector", "email", "stream"];

/// Samples per query unless `CATALOGUE_BENCH_SAMPLES` says otherwise.
const SAMPLES: usize = 200;

fn samples() -> usize {
    std::env::var("CATALOGUE_BENCH_SAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SAMPLES)
}

fn sentence(rng: &mut StdRng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn upload(rng: &mut StdRng, number: usize) -> Upload {
    let name = format!(
        "{}-{}-{number}",
        WORDS[rng.random_range(0..WORDS.len())],
        WORDS[rng.random_range(0..WORDS.len())]
    );
    let bytes = bytes::Bytes::from(format!("tarball {name}").into_bytes());
    let cksum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let metadata = PackageMetadata {
        description: Some(sentence(rng, 8)),
        keywords: (0..3)
            .map(|_| WORDS[rng.random_range(0..WORDS.len())].to_owned())
            .collect(),
        readme: Some(format!("# {name}\n\n{}\n", sentence(rng, 80))),
        ..PackageMetadata::default()
    };
    Upload {
        entry: pkg(&name, "1.0.0").cksum(&cksum).entry(),
        crate_bytes: bytes,
        metadata,
    }
}

/// A storage holding `count` packages, its metadata in `database`.
async fn populate(dir: &std::path::Path, count: usize, database: MetadataDatabase) -> Storage {
    let storage = Storage::open_with_database(
        StorageConfig {
            data_dir: dir.to_path_buf(),
            blobs: BlobBackend::Memory,
        },
        database,
    )
    .await
    .expect("storage opens");
    let token = storage
        .create_token(NewToken {
            user: "bench".to_owned(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            name_patterns: Vec::new(),
            label: None,
        })
        .expect("a token");
    let who = storage
        .authenticate(token.secret.expose())
        .expect("the token authenticates");
    let mut rng = StdRng::seed_from_u64(11);
    let uploads: Vec<Upload> = (0..count).map(|n| upload(&mut rng, n)).collect();
    for chunk in uploads.chunks(512) {
        let publishes = chunk.iter().cloned().map(|up| {
            let (storage, who) = (storage.clone(), who.clone());
            tokio::spawn(async move { storage.publish(&who, up).await })
        });
        for publish in futures::future::join_all(publishes).await {
            publish
                .expect("the task ran")
                .expect("the publish succeeded");
        }
    }
    storage.settle().await;
    storage
}

/// Waits until the storage's writer has compacted SQLite's full-text index after the
/// publishes (as a running server does once publishes pause), saying how many segments the
/// publishes left and how long the compaction took; measuring starts from that settled
/// state (the state just after the burst, before any compaction, is the one a writer that
/// never compacts would leave).
async fn settle_search_index(storage: &Storage) {
    let Some(segments) = storage.catalogue_index_segments().await.expect("segments") else {
        return;
    };
    println!("full-text index segments just after the publishes: {segments}");
    let started = Instant::now();
    while storage.catalogue_index_segments().await.expect("segments") != Some(1) {
        assert!(
            started.elapsed() < Duration::from_mins(10),
            "the writer compacts the full-text index within ten minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "compacted into one segment {:.3} s later",
        started.elapsed().as_secs_f64()
    );
}

/// The sample at `per_mille`/1000 of the sorted samples (nearest rank).
fn percentile(samples: &mut [Duration], per_mille: usize) -> Duration {
    samples.sort();
    let rank = ((samples.len() - 1) * per_mille + 500) / 1000;
    samples[rank]
}

fn report(label: &str, count: usize, samples: &mut [Duration]) {
    let p50 = percentile(samples, 500);
    let p99 = percentile(samples, 990);
    println!(
        "{label:<28} packages={count:<6} samples={:<5} p50={:>9.3} ms  p99={:>9.3} ms",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

/// Whether `CATALOGUE_BENCH_ENGINE` asks for PostgreSQL.
fn on_postgres() -> bool {
    std::env::var("CATALOGUE_BENCH_ENGINE").is_ok_and(|engine| engine == "postgres")
}

/// The words of a query as `LIKE` patterns, and the condition requiring each in the name or
/// the description (`$N` placeholders when `dollar`, else `?N`).
fn like_query(text: &str, operator: &str, dollar: bool) -> (Vec<String>, String) {
    let words: Vec<String> = text.split(' ').map(|w| format!("%{w}%")).collect();
    let mark = if dollar { '$' } else { '?' };
    let condition = (0..words.len())
        .map(|i| {
            format!(
                "(name {operator} {mark}{n} OR description {operator} {mark}{n})",
                n = i + 1
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql =
        format!("SELECT name, description FROM packages WHERE {condition} ORDER BY name LIMIT 20");
    (words, sql)
}

/// The baseline: one plain `LIKE` (SQLite) or `ILIKE` (PostgreSQL; SQLite's `LIKE` ignores
/// ASCII case) over names and descriptions, every word required, the 20 first names, on a
/// connection of its own to the same database, each query's statement prepared once.
enum Baseline {
    /// A SQLite connection to the same file.
    Sqlite(Connection),
    /// A PostgreSQL connection to the same database, with each query's prepared statement
    /// and `LIKE` patterns.
    Postgres {
        client: tokio_postgres::Client,
        prepared: Vec<(Vec<String>, tokio_postgres::Statement)>,
    },
}

impl Baseline {
    async fn open(dir: &std::path::Path, server: Option<&PostgresServer>) -> Self {
        let Some(server) = server else {
            let conn = Connection::open(dir.join(wharf_storage::DATABASE_FILE)).expect("opens");
            return Self::Sqlite(conn);
        };
        let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        let mut prepared = Vec::new();
        for text in QUERIES {
            let (words, sql) = like_query(text, "ILIKE", true);
            prepared.push((words, client.prepare(&sql).await.expect("prepares")));
        }
        Self::Postgres { client, prepared }
    }

    /// Runs the baseline of `QUERIES[index]` once and returns how long it took.
    async fn time(&self, index: usize) -> Duration {
        match self {
            Self::Sqlite(conn) => {
                let (words, sql) = like_query(QUERIES[index], "LIKE", false);
                let start = Instant::now();
                let mut statement = conn.prepare_cached(&sql).expect("prepares");
                let rows: Vec<String> = statement
                    .query_map(rusqlite::params_from_iter(words.iter()), |row| row.get(0))
                    .expect("runs")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                let elapsed = start.elapsed();
                std::hint::black_box(rows);
                elapsed
            }
            Self::Postgres { client, prepared } => {
                let (words, statement) = &prepared[index];
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = words
                    .iter()
                    .map(|w| w as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let start = Instant::now();
                let rows = client.query(statement, &params).await.expect("runs");
                let elapsed = start.elapsed();
                std::hint::black_box(rows);
                elapsed
            }
        }
    }
}

/// Runs `Storage::catalogue_search` of `QUERIES[index]` once and returns how long it took.
async fn time_search(storage: &Storage, index: usize) -> Duration {
    let query = CatalogueQuery {
        text: QUERIES[index].to_owned(),
        limit: Some(20),
        ..CatalogueQuery::default()
    };
    let start = Instant::now();
    let page = storage.catalogue_search(query).await.expect("search");
    let elapsed = start.elapsed();
    std::hint::black_box(page);
    elapsed
}

async fn measure(count: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = on_postgres().then(PostgresServer::start);
    let database = server
        .as_ref()
        .map_or(MetadataDatabase::Embedded, |server| {
            MetadataDatabase::Postgres(server.url())
        });
    let started = Instant::now();
    let storage = populate(dir.path(), count, database).await;
    println!(
        "populated {count} packages on {} in {:.1} s",
        storage.engine_name(),
        started.elapsed().as_secs_f64()
    );
    settle_search_index(&storage).await;
    let baseline = Baseline::open(dir.path(), server.as_ref()).await;

    // Rounds alternate which side goes first, so a change in the machine's load falls on
    // both alike; each round runs every query once on each side.
    let samples = samples();
    let mut search = Vec::with_capacity(samples * QUERIES.len());
    let mut like = Vec::with_capacity(samples * QUERIES.len());
    for round in 0..samples {
        let search_first = round % 2 == 0;
        for side in [search_first, !search_first] {
            for index in 0..QUERIES.len() {
                if side {
                    search.push(time_search(&storage, index).await);
                } else {
                    like.push(baseline.time(index).await);
                }
            }
        }
    }
    let (search_label, like_label) = match &baseline {
        Baseline::Sqlite(_) => ("catalogue_search (FTS5)", "baseline LIKE"),
        Baseline::Postgres { .. } => ("catalogue_search (tsvector)", "baseline ILIKE"),
    };
    report(search_label, count, &mut search);
    report(like_label, count, &mut like);
    // `CATALOGUE_BENCH_KEEP=1` keeps the SQLite database for looking at query plans
    // afterwards.
    if std::env::var_os("CATALOGUE_BENCH_KEEP").is_some() {
        println!("kept the database in {}", dir.keep().display());
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("CATALOGUE_BENCH_SIZES").ok().map_or_else(
        || vec![500, 50_000],
        |text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        },
    );
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing and
    // measures only the small size so the suite stays quick.
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for count in sizes {
        if !full && count > 500 {
            continue;
        }
        runtime.block_on(measure(count));
    }
}

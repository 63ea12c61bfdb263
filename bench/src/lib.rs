//! Load tools and benchmarks for Wharf.
//!
//! The `wharf-load` binary drives a running registry over HTTP the way cargo does:
//!
//! - [`SyntheticCrate`]: a small but complete package version (metadata JSON with every field
//!   cargo sends, a normalised `Cargo.toml`, `src/lib.rs`, a README) framed as cargo frames
//!   a publish body (by `wharf_index_format::encode_publish_frame`).
//! - [`publish_all`]: sends prebuilt publish bodies with N concurrent publishers and reports
//!   throughput, latency percentiles ([`LatencySummary`]) and every non-200 answer.
//! - [`seed_waves`]: a registry's worth of packages with several versions and realistic
//!   dependency lists, ordered so every dependency exists before its dependents.
//! - [`fetch_index_files`]: downloads index files, keeping their bytes and `ETag`s, so a
//!   static file server can serve the same tree and a load generator can send conditional
//!   requests.
//! - [`read_for`]: a steady load of index reads for a while, counting the requests that
//!   failed (the failover drill, `scripts/bench/failover.sh`).
//!
//! - [`generate`]: a seeded plugin ecosystem (`gen-ecosystem`): hundreds of plugins with
//!   power-law popularity, dependency chains, host API ranges over three majors, yanks and
//!   deliberate conflicts, written as plugin folders and ready publish bodies.
//! - [`install_bench`]: the parts of `wharf-install-bench`, which measures how often plugin
//!   installs through a faulting proxy succeed (Wharf's installer against a greedy one).
//!
//! The shell scripts under `scripts/bench/` combine these with `wrk` and nginx; the results
//! are in `BENCHMARKS.md`.

mod ecosystem;
mod error;
mod http_client;
mod index_fetch;
pub mod install_bench;
mod latency;
mod publisher;
mod read_load;
mod seed;
mod signing;
mod synthetic;

pub use ecosystem::{
    Conflict, EXCLUSIVE_RESOURCES, Ecosystem, EcosystemParams, GeneratedFile, GeneratedVersion,
    HOST_MINORS, generate,
};
pub use error::BenchError;
pub use index_fetch::{FetchedIndexFile, fetch_index_files};
pub use latency::LatencySummary;
pub use publisher::{PublishFailure, PublishReport, PublishTarget, publish_all};
pub use read_load::{ReadReport, read_for};
pub use seed::{SeedPlan, seed_waves};
pub use signing::{PublishUpload, RegisteredKey};
pub use synthetic::{SyntheticCrate, SyntheticDependency};

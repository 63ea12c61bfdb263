//! Integration tests of `wharf-storage` on real SQLite files, the local blob backend and a
//! real S3 server (Garage).

mod catalogue;
mod concurrency;
mod crash;
mod daily_limits;
mod gc;
mod index_lookup;
mod index_retry;
mod log;
mod owners;
mod plugins;
mod postgres;
mod properties;
mod publish;
mod recent;
mod reconcile;
mod restart;
mod s3;
mod support;
mod tokens;
mod usage;
mod yank;

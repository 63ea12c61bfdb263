//! Integration tests of `wharf-storage` on real SQLite files and the local blob backend.

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
mod properties;
mod publish;
mod recent;
mod reconcile;
mod restart;
mod support;
mod tokens;
mod yank;

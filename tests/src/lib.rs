//! Support for Wharf's end-to-end tests: a real `wharf serve` process on a free loopback port,
//! a real `cargo` with its own `CARGO_HOME`, crate projects on disk, and snapshots of a data
//! directory to prove that a rejected request changed nothing, a tampering proxy
//! ([`TamperProxy`]) that rewrites a registry's answers as a hostile mirror would, and a proxy
//! that injects network faults ([`fault_proxy`]).

mod admin_requests;
pub mod backends;
mod cargo;
pub mod core_plugins;
pub mod crash_round;
pub mod fault_proxy;
pub mod forged_log;
mod registry;
mod snapshot;
pub mod tamper_proxy;
pub mod upload;
pub mod verify_setup;

pub use cargo::{CargoEnv, CrateProject, describe};
pub use registry::{TestRegistry, http_client_builder, wharf_binary};
pub use snapshot::DataSnapshot;
pub use tamper_proxy::TamperProxy;

/// Result type for tests, so they can use `?`.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

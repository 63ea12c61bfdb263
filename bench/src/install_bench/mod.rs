//! The install-success benchmark's parts: the ecosystem it publishes, the exhaustive
//! satisfiability check that judges each request, and the greedy installer it compares
//! Wharf's installer with (the `wharf-install-bench` binary runs them).

pub mod ecosystem;
pub mod greedy;
pub mod satisfy;

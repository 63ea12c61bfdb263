//! End-to-end tests: a real `wharf serve` on a loopback port, driven by the real `cargo`
//! binary (own `CARGO_HOME`) and by raw HTTP.

mod auth_required;
mod bad_publish;
mod cargo_flow;
mod crash;
mod http_surface;
mod https;
mod https_startup;
mod pki;
mod rate_limits;
mod resolve_remote;
mod tls_proxy;
mod tokens;
mod workers;

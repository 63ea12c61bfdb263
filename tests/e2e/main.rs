//! End-to-end tests: a real `wharf serve` on a loopback port, driven by the real `cargo`
//! binary (own `CARGO_HOME`) and by raw HTTP.

mod auth_required;
mod bad_publish;
mod bundle;
mod cargo_flow;
mod cli_output;
mod connections;
mod crash;
mod data_dir;
mod dependency_registries;
mod full_disk;
mod gc;
mod git_index;
mod http_surface;
mod https;
mod https_startup;
mod install;
mod keyset_rotation;
mod mirror;
mod pki;
mod plugins;
mod publish_log;
mod rate_limits;
mod readme;
mod resolve_remote;
mod settings_precedence;
mod signed_plugins;
mod signing;
mod signing_crash;
mod templates;
mod threats;
mod tls_proxy;
mod tokens;
mod transparency_log;
mod verify_cli;
mod workers;

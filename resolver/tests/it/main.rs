//! Integration tests of the resolver, one module per concern.

mod api;
mod differential;
mod discouraged;
mod explanations;
mod lockfiles;
mod properties;
mod semantics;
mod sources;
mod support;
mod workspaces;

//! Integration tests of the resolver, one module per concern.

mod differential;
mod explanations;
mod lockfiles;
mod properties;
mod semantics;
mod sources;
mod support;

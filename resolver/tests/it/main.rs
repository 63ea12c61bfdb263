//! Integration tests of the resolver, one module per concern.

mod differential;
mod semantics;
mod support;

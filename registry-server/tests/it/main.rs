//! In-process tests of the HTTP surface: the router is called with `http::Request`s over a real
//! storage (SQLite and blobs in a temporary directory), without a socket. Every answer shape a
//! client can get — each error status, the login challenge, `/me` and the limits — is an insta
//! snapshot of its status, headers and body. The end-to-end suite (`tests/e2e`) keeps what
//! needs the real binary or the real cargo.

mod auth;
mod git_index;
mod limits;
mod log;
mod publish;
mod requests;
mod support;
mod web;

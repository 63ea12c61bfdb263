//! One module per resource; each handler takes the state and the parts of the request it needs.

pub(crate) mod catalogue;
pub(crate) mod catalogue_compat;
pub(crate) mod catalogue_readme;
pub(crate) mod catalogue_state;
pub(crate) mod download;
pub(crate) mod entitlements;
pub(crate) mod git;
pub(crate) mod index;
pub(crate) mod install_reports;
pub(crate) mod keys;
pub(crate) mod lifecycle;
pub(crate) mod log;
pub(crate) mod openapi;
pub(crate) mod operations;
pub(crate) mod owners;
pub(crate) mod plugins;
pub(crate) mod publish;
pub(crate) mod recommendations;
pub(crate) mod reviews;
pub(crate) mod roles;
pub(crate) mod search;
pub(crate) mod signatures;
pub(crate) mod teams;
pub(crate) mod usage;
pub(crate) mod webhooks;
pub(crate) mod yank;

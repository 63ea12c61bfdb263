//! Integration tests of the publish path: real cargo publish bodies, real and malicious
//! tarballs built in memory, translation to index lines, and round-trip properties.

mod fuzz_seeds;
mod good_crates;
mod plugins;
mod properties;
mod rejections_frame_and_metadata;
mod rejections_manifest;
mod rejections_paths;
mod rejections_tar_structure;
mod support;
mod translation;

//! The `wharf` binary.

mod resolve_cmd;

use clap::Parser as _;

#[derive(clap::Parser)]
#[command(name = "wharf", version, about = "A Cargo-compatible package registry")]
enum Command {
    /// Resolve a manifest against a local index.
    Resolve(resolve_cmd::ResolveArgs),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    match Command::parse() {
        Command::Resolve(args) => resolve_cmd::run(&args),
    }
}

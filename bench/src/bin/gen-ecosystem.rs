//! `gen-ecosystem`: writes a seeded plugin ecosystem (plugin folders, publish bodies, the
//! publish order, the yank list and the deliberate conflicts). The same seed and count give
//! the same bytes.

use std::path::PathBuf;

use clap::Parser;
use wharf_bench::{EcosystemParams, generate};

/// Generate a reproducible plugin ecosystem.
#[derive(Debug, Parser)]
#[command(name = "gen-ecosystem", version, about, long_about = None)]
struct Args {
    /// The seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// How many plugins (packages); each gets one to six versions.
    #[arg(long, default_value_t = 500)]
    plugins: usize,
    /// The output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ecosystem = generate(EcosystemParams {
        seed: args.seed,
        plugins: args.plugins,
    });
    let written = ecosystem.write_to(&args.out)?;
    println!(
        "wrote {written} files to `{}`: {} plugins, {} versions, {} yanked, {} deliberate conflicts",
        args.out.display(),
        args.plugins,
        ecosystem.versions.len(),
        ecosystem.versions.iter().filter(|v| v.yanked).count(),
        ecosystem.conflicts.len()
    );
    Ok(())
}

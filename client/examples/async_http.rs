//! Resolves requirements against a registry's sparse index from a tokio program, without
//! blocking the runtime: the resolver runs on a thread of its own and asks the async HTTP
//! client for each package, while the dependencies of every answer are fetched ahead.
//!
//! ```text
//! cargo run -p wharf-client --example async_http -- http://127.0.0.1:8080/index/ serde=1 log=0.4
//! ```

use wharf_client::{AsyncSparseIndex, ClientOptions};
use wharf_resolver::{Requirements, Resolver, run_with_async_source};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: async_http INDEX_URL NAME=REQUIREMENT...")?;
    let mut wanted = Requirements::new();
    for pair in args {
        let (name, requirement) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}`: write NAME=REQUIREMENT, e.g. serde=1"))?;
        wanted = wanted.require(name, requirement);
    }
    let token = std::env::var("WHARF_TOKEN").ok();
    let index = AsyncSparseIndex::connect(&url, token, &ClientOptions::default()).await?;
    let resolution = run_with_async_source(&index, move |source| {
        Resolver::new(source).resolve_requirements(&wanted)
    })
    .await?;
    for package in &resolution.packages {
        println!("{} {}", package.name, package.version);
    }
    eprintln!("{} requests", index.requests());
    Ok(())
}

//! Registries whose metadata is in PostgreSQL and whose blobs are in S3, as an operator
//! running several nodes sets them up: a throwaway PostgreSQL cluster and a Garage server
//! started by the test, and any number of `wharf serve` nodes, each with its own data
//! directory, on that one database and one bucket.

use std::path::Path;
use std::sync::Arc;

use wharf_test_support::garage::GarageServer;
use wharf_test_support::postgres::PostgresServer;

use crate::TestRegistry;

/// A PostgreSQL cluster and a Garage bucket, shared by the nodes started on them; they
/// stop when the last node holding them is dropped.
#[derive(Debug)]
pub struct Backends {
    /// The PostgreSQL cluster (database `wharf`).
    pub postgres: PostgresServer,
    /// The S3 server with its bucket.
    pub garage: GarageServer,
    /// The prefix of the blobs in the bucket.
    pub prefix: String,
}

impl Backends {
    /// Starts PostgreSQL and Garage.
    pub fn start() -> Arc<Self> {
        Arc::new(Self {
            postgres: PostgresServer::start(),
            garage: GarageServer::start(),
            prefix: "registry/blobs".to_owned(),
        })
    }

    /// The `serve` flags of a node: `--database URL --storage s3://BUCKET/PREFIX`.
    pub fn serve_args(&self) -> Vec<String> {
        vec![
            "--database".to_owned(),
            self.postgres.url(),
            "--storage".to_owned(),
            self.garage.url(&self.prefix),
        ]
    }

    /// The variables every `wharf` command on a node needs: the bucket's `AWS_*` settings and
    /// `WHARF_DATABASE` (which `wharf token` and `wharf admin` read).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .garage
            .aws_env()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        env.push(("WHARF_DATABASE".to_owned(), self.postgres.url()));
        env
    }
}

pub use wharf_test_support::postgres::copy_keys;

/// Several `wharf serve` nodes of one registry on shared [`Backends`].
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, in the order they were started (the first made the registry's keys).
    pub nodes: Vec<TestRegistry>,
    /// The database and the bucket.
    pub backends: Arc<Backends>,
}

impl Cluster {
    /// Starts `count` nodes: the first on a new registry, each other one with the first
    /// one's keys copied into its fresh data directory.
    pub fn start(count: usize) -> Self {
        let backends = Backends::start();
        let first = TestRegistry::start_node(&backends, &[], |_| {}, None);
        let mut nodes = vec![first];
        for _ in 1..count {
            let node = Self::join(&backends, &nodes[0]);
            nodes.push(node);
        }
        Self { nodes, backends }
    }

    /// Starts one more node of the registry `first` belongs to.
    pub fn join(backends: &Arc<Backends>, first: &TestRegistry) -> TestRegistry {
        let keys_of = first.data_dir().to_path_buf();
        TestRegistry::start_node(
            backends,
            &[],
            |data| copy_keys(&keys_of, data),
            Some(first.admin_token.clone()),
        )
    }
}

//! What an attacker holding a registry's online keys serves: the keys read from a test
//! registry's data directory, timestamps signed again with other times, keysets signed by
//! chosen root keys, and a whole forged log (leaves changed, the tree rebuilt, checkpoint,
//! proofs and timestamp signed again) as [`TamperProxy`](crate::TamperProxy) rules.

use wharf_trust::merkle::proof::{prove_consistency, prove_inclusion};
use wharf_trust::{Checkpoint, Keyset, MemoryHashStore, Note, SigningKey, Timestamp, UtcTime};

use crate::TestRegistry;
use crate::tamper_proxy::{Action, Rule};

/// A registry's signing keys and origin, as on disk.
#[derive(Debug)]
pub struct StolenKeys {
    /// The origin.
    pub origin: String,
    /// The root key.
    pub root: SigningKey,
    /// The log key.
    pub log: SigningKey,
    /// The timestamp key.
    pub timestamp: SigningKey,
    /// The release key.
    pub release: SigningKey,
    /// Keyset version 1 as the registry made it.
    pub keyset: Keyset,
}

impl StolenKeys {
    /// Reads the keys of `registry`'s data directory.
    pub fn of(registry: &TestRegistry) -> Self {
        let dir = registry.data_dir().join("keys");
        let key = |file: &str| {
            let text = std::fs::read_to_string(dir.join(file)).expect("a key file");
            SigningKey::from_key_file(&text, None).expect("an unencrypted key file")
        };
        let note = std::fs::read_to_string(dir.join("keyset-1.note")).expect("keyset 1");
        let keyset =
            Keyset::parse(Note::parse(note.as_bytes()).expect("a note").text()).expect("a keyset");
        Self {
            origin: keyset.origin().to_owned(),
            root: key("root.key"),
            log: key("log.key"),
            timestamp: key("timestamp.key"),
            release: key("release.key"),
            keyset,
        }
    }

    /// A keyset `version` with these online keys and root, valid for a day.
    pub fn keyset(&self, version: u64, root: &SigningKey, timestamp: &SigningKey) -> Keyset {
        Keyset::new(
            &self.origin,
            version,
            UtcTime::now().plus_seconds(86_400),
            [
                root.public_key(),
                self.log.public_key(),
                timestamp.public_key(),
                self.release.public_key(),
            ],
        )
        .expect("a keyset")
    }
}

/// The body of the registry's `/api/wharf/v1/log/keyset` for these signed notes.
pub fn keyset_body(notes: &[String]) -> Vec<u8> {
    serde_json::json!({ "keysets": notes })
        .to_string()
        .into_bytes()
}

/// Signs again the timestamp `served` (a signed note) with `key`, with new issued and
/// expiry times (offsets in seconds from now).
pub fn resign_timestamp(
    served: &[u8],
    key: &SigningKey,
    issued_in: i64,
    expires_in: i64,
) -> Vec<u8> {
    let note = Note::parse(served).expect("a timestamp note");
    let old = Timestamp::parse(note.text()).expect("a timestamp");
    let checkpoint = Checkpoint::new(old.origin(), old.tree_size(), *old.root()).expect("ok");
    let now = UtcTime::now();
    Timestamp::new(
        &checkpoint,
        *old.snapshot(),
        now.plus_seconds(issued_in),
        now.plus_seconds(expires_in),
    )
    .expect("a timestamp")
    .sign(key)
    .expect("signed")
    .into_bytes()
}

/// A log as an attacker with the log and timestamp keys rebuilds it.
#[derive(Debug, Clone)]
pub struct ForgedLog {
    /// The leaves, to change before [`ForgedLog::rules`].
    pub leaves: Vec<Vec<u8>>,
}

impl ForgedLog {
    /// The registry's current leaves.
    pub fn of(registry: &TestRegistry) -> Self {
        let http = registry.http();
        let size: u64 = get(
            &http,
            &format!("{}/api/wharf/v1/log/checkpoint", registry.url()),
        )
        .lines()
        .nth(1)
        .and_then(|line| line.parse().ok())
        .expect("a checkpoint size");
        let mut leaves = Vec::new();
        while (leaves.len() as u64) < size {
            let start = leaves.len();
            let body = get(
                &http,
                &format!(
                    "{}/api/wharf/v1/log/leaves?start={start}&end={size}",
                    registry.url()
                ),
            );
            let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            for leaf in value["leaves"].as_array().expect("leaves") {
                leaves.push(leaf["leaf"].as_str().expect("text").as_bytes().to_vec());
            }
        }
        Self { leaves }
    }

    /// Replaces `from` by `to` in leaf `index`.
    pub fn rewrite_leaf(&mut self, index: usize, from: &str, to: &str) {
        let text = String::from_utf8(self.leaves[index].clone()).expect("text");
        assert!(text.contains(from), "leaf {index} has no `{from}`: {text}");
        self.leaves[index] = text.replacen(from, to, 1).into_bytes();
    }

    /// Changes the `logged` time of leaf `index` (the leaf still parses; its hash changes).
    pub fn backdate(&mut self, index: usize) {
        let text = String::from_utf8(self.leaves[index].clone()).expect("text");
        let logged = text
            .lines()
            .find(|line| line.starts_with("logged: "))
            .expect("a logged line")
            .to_owned();
        self.rewrite_leaf(index, &logged, "logged: 2020-01-01T00:00:00Z");
    }

    /// Rules serving this log consistently: the checkpoint signed by `keys.log`, leaves,
    /// proofs from the rebuilt tree, and the served timestamp signed again by `keys.timestamp`
    /// to bind the new checkpoint (the snapshot hash kept from `served_timestamp`).
    pub fn rules(&self, keys: &StolenKeys, served_timestamp: &[u8]) -> Vec<Rule> {
        let mut tree = MemoryHashStore::new();
        for leaf in &self.leaves {
            tree.push(leaf);
        }
        let checkpoint = Checkpoint::new(&keys.origin, tree.size(), tree.root()).expect("ok");
        let note = Note::parse(served_timestamp).expect("a timestamp note");
        let old = Timestamp::parse(note.text()).expect("a timestamp");
        let now = UtcTime::now();
        let timestamp = Timestamp::new(&checkpoint, *old.snapshot(), now, now.plus_seconds(3600))
            .expect("a timestamp")
            .sign(&keys.timestamp)
            .expect("signed");
        let leaves = self.leaves.clone();
        let proofs_tree = tree.clone();
        let consistency_tree = tree;
        vec![
            Rule::exact(
                "/api/wharf/v1/log/checkpoint",
                Action::Replace(checkpoint.sign(&keys.log).expect("signed").into_bytes()),
            ),
            Rule::exact(
                "/index/.wharf/timestamp",
                Action::Replace(timestamp.into_bytes()),
            ),
            Rule::exact(
                "/api/wharf/v1/log/leaves",
                Action::Edit(Box::new(move |query, _| {
                    let start = query_number(query, "start");
                    let end = query_number(query, "end").min(leaves.len() as u64);
                    let page: Vec<_> = (start..end.min(start + 256))
                        .map(|index| {
                            let leaf = &leaves[usize::try_from(index).expect("small")];
                            serde_json::json!({
                                "index": index,
                                "leaf": String::from_utf8_lossy(leaf),
                            })
                        })
                        .collect();
                    serde_json::json!({ "leaves": page })
                        .to_string()
                        .into_bytes()
                })),
            ),
            Rule::exact(
                "/api/wharf/v1/log/proof/inclusion",
                Action::Edit(Box::new(move |query, _| {
                    prove_inclusion(
                        &proofs_tree,
                        query_number(query, "index"),
                        query_number(query, "size"),
                    )
                    .expect("a proof")
                    .to_text()
                    .into_bytes()
                })),
            ),
            Rule::exact(
                "/api/wharf/v1/log/proof/consistency",
                Action::Edit(Box::new(move |query, _| {
                    prove_consistency(
                        &consistency_tree,
                        query_number(query, "from"),
                        query_number(query, "to"),
                    )
                    .expect("a proof")
                    .to_text()
                    .into_bytes()
                })),
            ),
        ]
    }
}

fn query_number(query: &str, name: &str) -> u64 {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

fn get(http: &reqwest::blocking::Client, url: &str) -> String {
    let response = http.get(url).send().expect("an answer");
    assert_eq!(response.status(), 200, "GET {url}");
    response.text().expect("text")
}

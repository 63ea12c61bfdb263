//! The byte sizes a client downloads to check one event against a log of a million leaves:
//! the signed checkpoint, an inclusion proof and a consistency proof from an older
//! checkpoint, and how many stored hashes building them reads. Run with `--no-capture` to
//! see the figures.

use std::cell::Cell;

use wharf_trust::merkle::proof::{prove_consistency, prove_inclusion};
use wharf_trust::{Checkpoint, Hash, HashStore, MemoryHashStore, NoteKey, SigningKey, TrustError};

/// A store that counts the node reads, as a database would serve them.
struct Counting<'a> {
    store: &'a MemoryHashStore,
    reads: Cell<usize>,
}

impl HashStore for Counting<'_> {
    type Error = TrustError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, TrustError> {
        self.reads.set(self.reads.get() + 1);
        self.store.node(level, index)
    }
}

const LEAVES: u64 = 1_000_000;

#[test]
fn checkpoint_and_proofs_at_a_million_leaves() {
    let mut log = MemoryHashStore::new();
    for i in 0..LEAVES {
        log.push(&i.to_be_bytes());
    }
    let log_key = SigningKey::from_seed(&[1; 32]);
    let checkpoint = Checkpoint::new("wharf.example.com", log.size(), log.root()).unwrap();
    let note = checkpoint.sign(&log_key).unwrap();
    let verifier = NoteKey::new("wharf.example.com", log_key.public_key()).unwrap();
    let opened = Checkpoint::open(note.as_bytes(), &verifier).unwrap();

    // ⌈log2 10^6⌉ = 20 levels.
    let levels = usize::try_from(LEAVES.next_power_of_two().trailing_zeros()).unwrap();
    let counting = Counting {
        store: &log,
        reads: Cell::new(0),
    };
    let mut most_reads = 0;
    let mut largest_inclusion = 0;
    for index in [0, 123_456, 999_999, LEAVES / 2] {
        counting.reads.set(0);
        let proof = prove_inclusion(&counting, index, LEAVES).unwrap();
        most_reads = most_reads.max(counting.reads.get());
        opened
            .verify_inclusion(&index.to_be_bytes(), &proof)
            .unwrap();
        assert!(proof.hashes().len() <= levels);
        largest_inclusion = largest_inclusion.max(proof.to_text().len());
    }
    let mut largest_consistency = 0;
    for old in [1, 812_345, 999_000, 524_288, 999_999] {
        counting.reads.set(0);
        let proof = prove_consistency(&counting, old, LEAVES).unwrap();
        most_reads = most_reads.max(counting.reads.get());
        let old_checkpoint = Checkpoint::new(
            "wharf.example.com",
            old,
            wharf_trust::merkle::root(&log, old).unwrap(),
        )
        .unwrap();
        opened.check_extends(&old_checkpoint, &proof).unwrap();
        assert!(proof.hashes().len() <= 2 * levels);
        largest_consistency = largest_consistency.max(proof.to_text().len());
    }
    // Every proof hash is combined from at most log2(n) stored complete subtrees.
    assert!(most_reads <= 2 * levels * levels);
    eprintln!(
        "at {LEAVES} leaves: signed checkpoint {} bytes, largest inclusion proof {largest_inclusion} bytes, largest consistency proof {largest_consistency} bytes, total {} bytes; at most {most_reads} stored hashes read per proof",
        note.len(),
        note.len() + largest_inclusion + largest_consistency
    );
}

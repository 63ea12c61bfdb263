//! The RFC 6962 Merkle tree over the log's events: hashing, the [`HashStore`] a storage
//! layer implements, roots, and inclusion and consistency proofs ([`proof`]).
//!
//! Leaf hash `SHA-256(0x00 ‖ leaf bytes)`, interior hash `SHA-256(0x01 ‖ left ‖ right)`,
//! the root of an empty tree `SHA-256("")`, and a tree of `n` leaves splits at the largest
//! power of two below `n` (RFC 6962 §2.1, RFC 9162 §2.1).
//!
//! The tree never has to be in memory. A [`HashStore`] hands out the hash of any *complete*
//! subtree — `2^level` leaves starting at leaf `index · 2^level` — and every root, proof
//! element or incomplete right edge is combined from at most about `2·log2(n)` of them. When
//! a leaf is appended, [`nodes_completed_by`] lists exactly the complete subtrees it
//! finishes (on average two), which the store writes next to the leaf in the same
//! transaction: an append-only table of `(level, index) → hash` rows, `2n` rows for `n`
//! leaves. [`MemoryHashStore`] is that table in memory.
//!
//! Proof index arithmetic and verification use the `ct-merkle` crate; the range hashing
//! from a store is here.

pub mod proof;

use sha2::{Digest as _, Sha256};

use crate::{Hash, TrustError};

pub use proof::{ConsistencyProof, InclusionProof, prove_consistency, prove_inclusion};

/// The largest tree this crate handles (the proof arithmetic needs `n ≤ 2^63`).
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// RFC 6962 leaf hash of `leaf` bytes: `SHA-256(0x00 ‖ leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(leaf);
    Hash(hasher.finalize().into())
}

/// RFC 6962 interior hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Hash::sha256(b"")
}

/// Where the log's complete-subtree hashes live. Implemented by the storage layer (over
/// SQLite) and by [`MemoryHashStore`].
pub trait HashStore {
    /// The store's error; it must be able to carry this crate's errors.
    type Error: From<TrustError>;

    /// The hash of the complete subtree of `2^level` leaves starting at leaf
    /// `index << level` (level 0: the leaf hashes). Only asked for subtrees that are
    /// complete in the tree being proved, so the answer never changes once written.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// A complete subtree hash to store: `(level, index) → hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredNode {
    /// `0` for a leaf hash.
    pub level: u8,
    /// The subtree's position among the subtrees of its level.
    pub index: u64,
    /// Its hash.
    pub hash: Hash,
}

/// The nodes that appending the leaf with hash `leaf` to a tree of `size` leaves completes:
/// the leaf itself at `(0, size)` and every subtree it finishes. The store must hold the
/// nodes of the tree of `size` leaves.
pub fn nodes_completed_by<S: HashStore + ?Sized>(
    store: &S,
    size: u64,
    leaf: Hash,
) -> Result<Vec<StoredNode>, S::Error> {
    if size >= MAX_TREE_SIZE {
        return Err(TrustError::TreeTooLarge { size }.into());
    }
    let mut nodes = vec![StoredNode {
        level: 0,
        index: size,
        hash: leaf,
    }];
    let (mut level, mut index, mut hash) = (0u8, size, leaf);
    while index & 1 == 1 {
        let left = store.node(level, index - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        index >>= 1;
        nodes.push(StoredNode { level, index, hash });
    }
    Ok(nodes)
}

/// The hash of leaves `start..end` as RFC 6962 defines it for that slice.
pub(crate) fn range_hash<S: HashStore + ?Sized>(
    store: &S,
    start: u64,
    end: u64,
) -> Result<Hash, S::Error> {
    let size = end - start;
    debug_assert!(size > 0, "empty range");
    if size.is_power_of_two() && start.is_multiple_of(size) {
        let level = u8::try_from(size.trailing_zeros()).expect("a u64 has at most 64 bits");
        return store.node(level, start >> level);
    }
    let split = largest_power_of_two_below(size);
    let left = range_hash(store, start, start + split)?;
    let right = range_hash(store, start + split, end)?;
    Ok(node_hash(&left, &right))
}

/// The largest power of two strictly below `n` (`n ≥ 2`).
fn largest_power_of_two_below(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// The root hash of the first `size` leaves.
pub fn root<S: HashStore + ?Sized>(store: &S, size: u64) -> Result<Hash, S::Error> {
    if size > MAX_TREE_SIZE {
        return Err(TrustError::TreeTooLarge { size }.into());
    }
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(store, 0, size)
}

/// A [`HashStore`] in memory: one vector of hashes per level.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashStore {
    levels: Vec<Vec<Hash>>,
}

impl MemoryHashStore {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends a leaf by its bytes; returns its index.
    pub fn push(&mut self, leaf: &[u8]) -> u64 {
        self.push_hash(leaf_hash(leaf))
    }

    /// Appends a leaf by its leaf hash; returns its index.
    pub fn push_hash(&mut self, leaf: Hash) -> u64 {
        let size = self.size();
        let nodes = nodes_completed_by(self, size, leaf)
            .expect("a memory tree is far below the size limit");
        for node in nodes {
            let level = usize::from(node.level);
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(node.hash);
        }
        size
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        root(self, self.size()).expect("a memory tree holds every node it asks for")
    }
}

impl HashStore for MemoryHashStore {
    type Error = TrustError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, TrustError> {
        self.levels
            .get(usize::from(level))
            .and_then(|nodes| {
                usize::try_from(index)
                    .ok()
                    .and_then(|index| nodes.get(index))
            })
            .copied()
            .ok_or(TrustError::MissingNode { level, index })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 6962 §2.1 MTH, computed naively from the leaves.
    pub(crate) fn naive_root(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = usize::try_from(largest_power_of_two_below(n as u64)).unwrap();
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    /// The eight leaves of the RFC 6962 test tree used by Certificate Transparency and
    /// transparency-dev/merkle.
    pub(crate) fn rfc6962_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect()
    }

    #[test]
    fn known_roots_of_the_rfc6962_test_tree() {
        // Roots for sizes 1..=8 of the tree above (RFC 6962 test vectors, as published by
        // Certificate Transparency and transparency-dev/merkle).
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves = rfc6962_leaves();
        let mut store = MemoryHashStore::new();
        assert_eq!(
            store.root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (size, expected) in (1..=8).zip(expected) {
            store.push(&leaves[size - 1]);
            assert_eq!(store.root().to_hex(), expected, "size {size}");
            assert_eq!(
                naive_root(&leaves[..size]).to_hex(),
                expected,
                "naive, size {size}"
            );
        }
    }

    #[test]
    fn stores_two_nodes_per_leaf_on_average() {
        let mut store = MemoryHashStore::new();
        for i in 0u32..1000 {
            store.push(&i.to_be_bytes());
        }
        let stored: usize = store.levels.iter().map(Vec::len).sum();
        assert_eq!(stored, 2 * 1000 - 1000u32.count_ones() as usize);
    }

    #[test]
    fn root_of_any_prefix_matches_the_naive_root() {
        let leaves: Vec<Vec<u8>> = (0u32..70).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut store = MemoryHashStore::new();
        for leaf in &leaves {
            store.push(leaf);
        }
        for size in 0..=leaves.len() {
            assert_eq!(
                root(&store, size as u64).unwrap(),
                naive_root(&leaves[..size]),
                "size {size}"
            );
        }
    }

    #[test]
    fn missing_nodes_and_huge_sizes_are_errors_not_panics() {
        let store = MemoryHashStore::new();
        assert_eq!(
            root(&store, 3).unwrap_err(),
            TrustError::MissingNode { level: 1, index: 0 }
        );
        assert!(matches!(
            root(&store, u64::MAX),
            Err(TrustError::TreeTooLarge { .. })
        ));
    }
}

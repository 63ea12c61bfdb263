//! Inclusion and consistency proofs: generation from a [`HashStore`], verification, and
//! their text form.
//!
//! An inclusion proof is RFC 6962 `PATH(m, D[n])`: the sibling hashes from the leaf up to
//! the root's child. Its text form is the middle of a C2SP `tlog-proof`:
//!
//! ```text
//! index 73894
//! <base64 hash>
//! <base64 hash>
//! ```
//!
//! A consistency proof is RFC 6962 `PROOF(m, D[n])`; its text form is one base64 hash per
//! line (nothing at all for equal sizes). Tree sizes and roots are never part of a proof:
//! they come from the signed checkpoints the proof is checked against. Each hash costs 45
//! bytes of text; a tree of `n` leaves needs at most `⌈log2 n⌉` hashes for an inclusion proof
//! and about as many for a consistency proof.

use ct_merkle::digest::Output;
use sha2::Sha256;

use super::{HashStore, MAX_TREE_SIZE, range_hash};
use crate::encoding::{parse_decimal, shorten};
use crate::{Hash, TrustError};

/// The most hashes a proof may hold (a tree of 2^62 leaves needs 62; consistency ≤ 2×).
const MAX_PROOF_HASHES: usize = 128;

/// A proof that one leaf is in a tree of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    index: u64,
    hashes: Vec<Hash>,
}

/// A proof that a tree is an append-only extension of an older tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    hashes: Vec<Hash>,
}

/// The hash a ct-merkle in-order node index stands for in a tree of `size` leaves.
fn array_node_hash<S: HashStore + ?Sized>(
    store: &S,
    node: u64,
    size: u64,
) -> Result<Hash, S::Error> {
    let level = node.trailing_ones();
    let start = (node >> (level + 1)) << level;
    let end = start.saturating_add(1 << level).min(size);
    range_hash(store, start, end)
}

fn check_size(size: u64) -> Result<(), TrustError> {
    if size > MAX_TREE_SIZE {
        Err(TrustError::TreeTooLarge { size })
    } else {
        Ok(())
    }
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
pub fn prove_inclusion<S: HashStore + ?Sized>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<InclusionProof, S::Error> {
    check_size(size)?;
    if index >= size {
        return Err(TrustError::ProofRequest {
            reason: format!("leaf {index} is not in a tree of {size} leaves"),
        }
        .into());
    }
    let hashes = ct_merkle::indices_for_inclusion_proof(size, index)
        .into_iter()
        .map(|node| array_node_hash(store, node, size))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InclusionProof { index, hashes })
}

/// The consistency proof from the tree of `old_size` leaves to the tree of `new_size`.
pub fn prove_consistency<S: HashStore + ?Sized>(
    store: &S,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, S::Error> {
    check_size(new_size)?;
    if old_size == 0 || old_size > new_size {
        return Err(TrustError::ProofRequest {
            reason: format!(
                "no consistency proof exists from {old_size} to {new_size} leaves (the old size must be 1 to {new_size})"
            ),
        }
        .into());
    }
    let hashes = ct_merkle::indices_for_consistency_proof(old_size, new_size - old_size)
        .into_iter()
        .map(|node| array_node_hash(store, node, new_size))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ConsistencyProof { hashes })
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|hash| hash.0).collect()
}

fn ct_root(root: &Hash, size: u64) -> ct_merkle::RootHash<Sha256> {
    ct_merkle::RootHash::new(Output::<Sha256>::clone_from_slice(&root.0), size)
}

fn hash_lines(hashes: &[Hash]) -> String {
    hashes.iter().fold(String::new(), |mut text, hash| {
        text.push_str(&hash.to_base64());
        text.push('\n');
        text
    })
}

fn parse_hash_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
    what: &str,
) -> Result<Vec<Hash>, TrustError> {
    let mut hashes = Vec::new();
    for line in lines {
        if hashes.len() == MAX_PROOF_HASHES {
            return Err(TrustError::MalformedProof {
                reason: format!("{what} has more than {MAX_PROOF_HASHES} hashes"),
            });
        }
        hashes.push(Hash::from_base64(line, what)?);
    }
    Ok(hashes)
}

/// Splits proof text into lines, requiring a final newline unless the text is empty.
fn proof_lines<'a>(text: &'a str, what: &str) -> Result<Vec<&'a str>, TrustError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = text.strip_suffix('\n') else {
        return Err(TrustError::MalformedProof {
            reason: format!("{what} does not end with a newline"),
        });
    };
    Ok(body.split('\n').collect())
}

impl InclusionProof {
    /// A proof from its parts.
    pub fn new(index: u64, hashes: Vec<Hash>) -> Self {
        Self { index, hashes }
    }

    /// The leaf index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The sibling hashes, leaf first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Checks that `leaf` (the leaf's bytes, not its hash) is leaf number `index` of the tree
    /// of `size` leaves whose root is `root`.
    pub fn verify(&self, leaf: &[u8], size: u64, root: &Hash) -> Result<(), TrustError> {
        let fail = |reason: String| TrustError::InclusionFailed {
            index: self.index,
            size,
            reason,
        };
        if size > MAX_TREE_SIZE {
            return Err(fail(format!(
                "the tree is over the {MAX_TREE_SIZE}-leaf limit"
            )));
        }
        let proof = ct_merkle::InclusionProof::<Sha256>::try_from_bytes(concat(&self.hashes))
            .map_err(|error| fail(error.to_string()))?;
        ct_root(root, size)
            .verify_inclusion(&leaf, self.index, &proof)
            .map_err(|error| fail(error.to_string()))
    }

    /// The text form (see the module documentation).
    pub fn to_text(&self) -> String {
        format!("index {}\n{}", self.index, hash_lines(&self.hashes))
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let lines = proof_lines(text, "inclusion proof")?;
        let Some(first) = lines.first() else {
            return Err(TrustError::MalformedProof {
                reason: "inclusion proof is empty; expected `index N` first".to_owned(),
            });
        };
        let index = first
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| TrustError::MalformedProof {
                reason: format!(
                    "inclusion proof starts with `{}`, expected `index N`",
                    shorten(first)
                ),
            })?;
        let hashes = parse_hash_lines(lines[1..].iter().copied(), "inclusion proof")?;
        Ok(Self { index, hashes })
    }
}

impl ConsistencyProof {
    /// A proof from its hashes.
    pub fn new(hashes: Vec<Hash>) -> Self {
        Self { hashes }
    }

    /// The hashes.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
    /// `old_size` leaves with root `old_root` (`1 ≤ old_size ≤ new_size`; equal sizes need
    /// an empty proof and equal roots).
    pub fn verify(
        &self,
        old_size: u64,
        old_root: &Hash,
        new_size: u64,
        new_root: &Hash,
    ) -> Result<(), TrustError> {
        let fail = |reason: String| TrustError::ConsistencyFailed {
            old_size,
            new_size,
            reason,
        };
        if new_size > MAX_TREE_SIZE {
            return Err(fail(format!(
                "the tree is over the {MAX_TREE_SIZE}-leaf limit"
            )));
        }
        if old_size == 0 {
            return Err(fail(
                "a proof from the empty tree proves nothing; start from the first checkpoint"
                    .to_owned(),
            ));
        }
        let proof = ct_merkle::ConsistencyProof::<Sha256>::try_from_bytes(concat(&self.hashes))
            .map_err(|error| fail(error.to_string()))?;
        ct_root(new_root, new_size)
            .verify_consistency(&ct_root(old_root, old_size), &proof)
            .map_err(|error| fail(error.to_string()))
    }

    /// The text form: one base64 hash per line.
    pub fn to_text(&self) -> String {
        hash_lines(&self.hashes)
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let lines = proof_lines(text, "consistency proof")?;
        Ok(Self {
            hashes: parse_hash_lines(lines.into_iter(), "consistency proof")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::tests::{naive_root, rfc6962_leaves};
    use crate::merkle::{MemoryHashStore, leaf_hash, node_hash, root};
    use proptest::prelude::*;

    /// RFC 6962 §2.1.1 PATH(m, D[n]), naively from the leaves.
    fn naive_path(m: usize, leaves: &[Vec<u8>]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = n.next_power_of_two() / 2;
        if m < k {
            let mut path = naive_path(m, &leaves[..k]);
            path.push(naive_root(&leaves[k..]));
            path
        } else {
            let mut path = naive_path(m - k, &leaves[k..]);
            path.push(naive_root(&leaves[..k]));
            path
        }
    }

    /// RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), naively.
    fn naive_subproof(m: usize, leaves: &[Vec<u8>], whole: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if whole {
                Vec::new()
            } else {
                vec![naive_root(leaves)]
            };
        }
        let k = n.next_power_of_two() / 2;
        if m <= k {
            let mut proof = naive_subproof(m, &leaves[..k], whole);
            proof.push(naive_root(&leaves[k..]));
            proof
        } else {
            let mut proof = naive_subproof(m - k, &leaves[k..], false);
            proof.push(naive_root(&leaves[..k]));
            proof
        }
    }

    fn tree(n: usize) -> (Vec<Vec<u8>>, MemoryHashStore) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("event {i}").into_bytes()).collect();
        let mut store = MemoryHashStore::new();
        for leaf in &leaves {
            store.push(leaf);
        }
        (leaves, store)
    }

    proptest! {
        #[test]
        fn inclusion_proofs_match_rfc6962_and_verify(n in 1usize..300, pick in any::<prop::sample::Index>()) {
            let (leaves, store) = tree(n);
            let m = pick.index(n);
            let proof = prove_inclusion(&store, m as u64, n as u64).unwrap();
            let expected = naive_path(m, &leaves);
            prop_assert_eq!(proof.hashes(), expected.as_slice());
            let root = naive_root(&leaves);
            proof.verify(&leaves[m], n as u64, &root).unwrap();
            prop_assert_eq!(InclusionProof::parse(&proof.to_text()).unwrap(), proof.clone());
            // Another leaf, index or size does not verify.
            prop_assert!(proof.verify(b"not a leaf", n as u64, &root).is_err());
            prop_assert!(InclusionProof::new((m as u64 + 1) % n as u64, proof.hashes().to_vec())
                .verify(&leaves[m], n as u64, &root).is_err() || n == 1);
            prop_assert!(proof.verify(&leaves[m], n as u64, &leaf_hash(&leaves[m])).is_err() || n == 1);
        }

        #[test]
        fn consistency_proofs_match_rfc6962_and_verify(n in 1usize..300, pick in any::<prop::sample::Index>()) {
            let (leaves, store) = tree(n);
            let m = pick.index(n) + 1;
            let proof = prove_consistency(&store, m as u64, n as u64).unwrap();
            let expected = naive_subproof(m, &leaves, true);
            prop_assert_eq!(proof.hashes(), expected.as_slice());
            let (old_root, new_root) = (naive_root(&leaves[..m]), naive_root(&leaves));
            proof.verify(m as u64, &old_root, n as u64, &new_root).unwrap();
            prop_assert_eq!(ConsistencyProof::parse(&proof.to_text()).unwrap(), proof.clone());
            // A different old root (a rewritten history) does not verify.
            let forged = node_hash(&old_root, &old_root);
            prop_assert!(proof.verify(m as u64, &forged, n as u64, &new_root).is_err());
        }

        #[test]
        fn any_flipped_bit_breaks_a_proof(n in 2usize..100, pick in any::<prop::sample::Index>(), bit in 0usize..256) {
            let (leaves, store) = tree(n);
            let m = pick.index(n - 1) + 1;
            let root = store.root();
            let mut inclusion = prove_inclusion(&store, m as u64, n as u64).unwrap();
            let at = bit % (32 * inclusion.hashes.len()) / 32;
            inclusion.hashes[at].0[(bit / 8) % 32] ^= 1 << (bit % 8);
            prop_assert!(inclusion.verify(&leaves[m], n as u64, &root).is_err());
            let mut consistency = prove_consistency(&store, m as u64, n as u64).unwrap();
            let at = bit % (32 * consistency.hashes.len()) / 32;
            consistency.hashes[at].0[(bit / 8) % 32] ^= 1 << (bit % 8);
            let old = root_of(&store, m);
            prop_assert!(consistency.verify(m as u64, &old, n as u64, &root).is_err());
        }
    }

    fn root_of(store: &MemoryHashStore, size: usize) -> Hash {
        root(store, size as u64).unwrap()
    }

    #[test]
    fn known_inclusion_and_consistency_proofs_of_the_rfc6962_tree() {
        let leaves = rfc6962_leaves();
        let mut store = MemoryHashStore::new();
        for leaf in &leaves {
            store.push(leaf);
        }
        let hex = |hashes: &[Hash]| hashes.iter().map(Hash::to_hex).collect::<Vec<_>>();
        // Published with the test tree (Certificate Transparency, transparency-dev/merkle).
        assert_eq!(
            hex(prove_inclusion(&store, 0, 8).unwrap().hashes()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hex(prove_inclusion(&store, 5, 8).unwrap().hashes()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hex(prove_consistency(&store, 6, 8).unwrap().hashes()),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hex(prove_consistency(&store, 2, 5).unwrap().hashes()),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
        assert!(prove_consistency(&store, 8, 8).unwrap().hashes().is_empty());
        assert_eq!(
            leaf_hash(&leaves[0]).to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        let (_, store) = tree(5);
        assert!(matches!(
            prove_inclusion(&store, 5, 5),
            Err(TrustError::ProofRequest { .. })
        ));
        assert!(matches!(
            prove_inclusion(&store, 0, 0),
            Err(TrustError::ProofRequest { .. })
        ));
        assert!(matches!(
            prove_consistency(&store, 0, 5),
            Err(TrustError::ProofRequest { .. })
        ));
        assert!(matches!(
            prove_consistency(&store, 6, 5),
            Err(TrustError::ProofRequest { .. })
        ));
        assert!(matches!(
            prove_inclusion(&store, 0, 9),
            Err(TrustError::MissingNode { .. })
        ));
        let proof = prove_inclusion(&store, 1, 5).unwrap();
        assert!(proof.verify(b"x", u64::MAX, &store.root()).is_err());
        assert!(proof.verify(b"x", 0, &store.root()).is_err());
        let consistency = prove_consistency(&store, 2, 5).unwrap();
        assert!(
            consistency
                .verify(0, &store.root(), 5, &store.root())
                .is_err()
        );
        assert!(
            consistency
                .verify(6, &store.root(), 5, &store.root())
                .is_err()
        );
    }

    #[test]
    fn proof_text_is_strict() {
        for bad in [
            "index 01\n",
            "index -1\n",
            "index 1",
            "idx 1\n",
            "index 1\nnot-base64\n",
            "index 1\n\n",
        ] {
            assert!(InclusionProof::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ConsistencyProof::parse("").unwrap().hashes().is_empty());
        let line = format!("{}\n", Hash::sha256(b"x").to_base64());
        assert!(ConsistencyProof::parse(&line.repeat(129)).is_err());
        assert!(ConsistencyProof::parse(line.trim_end()).is_err());
    }
}

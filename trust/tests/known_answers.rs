//! Runs the RFC 6962 / RFC 9162 proof vectors in `tests/vectors` (see its README) against
//! the crate's inclusion and consistency verifiers.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use wharf_trust::merkle::leaf_hash;
use wharf_trust::{ConsistencyProof, Hash, InclusionProof, TrustError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionCase {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyCase {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

/// The eight RFC 6962 test leaves.
fn leaves() -> Vec<Vec<u8>> {
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

fn files(kind: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors")
            .join(kind),
        &mut out,
    );
    out.sort();
    out
}

fn hashes(proof: Option<&Vec<String>>) -> Result<Vec<Hash>, TrustError> {
    proof
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|h| Hash::from_base64(h, "proof hash"))
        .collect()
}

/// The result the crate gives for one inclusion case; `None` when the case cannot be put
/// to a verifier that takes leaf bytes (a leaf hash with no known preimage).
fn run_inclusion(case: &InclusionCase) -> Option<Result<(), TrustError>> {
    let leaves = leaves();
    let leaf = leaves
        .iter()
        .find(|leaf| leaf_hash(leaf).to_base64() == case.leaf_hash);
    let outcome = (|| {
        let root = Hash::from_base64(&case.root, "root")?;
        let proof = InclusionProof::new(case.leaf_idx, hashes(case.proof.as_ref())?);
        match leaf {
            Some(leaf) => proof.verify(leaf, case.tree_size, &root),
            // No leaf of the test tree has this hash, so no leaf bytes can prove it: verify
            // bytes that are in no tree at all.
            None => proof.verify(b"bytes of no test leaf", case.tree_size, &root),
        }
    })();
    if leaf.is_none() && !case.want_err {
        return None;
    }
    Some(outcome)
}

fn run_consistency(case: &ConsistencyCase) -> Result<(), TrustError> {
    let root1 = Hash::from_base64(&case.root1, "root1")?;
    let root2 = Hash::from_base64(&case.root2, "root2")?;
    ConsistencyProof::new(hashes(case.proof.as_ref())?)
        .verify(case.size1, &root1, case.size2, &root2)
}

#[test]
fn inclusion_vectors() {
    let files = files("inclusion");
    let mut skipped = Vec::new();
    for path in &files {
        let case: InclusionCase =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        match run_inclusion(&case) {
            None => skipped.push(path.file_name().unwrap().to_string_lossy().into_owned()),
            Some(outcome) => assert_eq!(
                outcome.is_err(),
                case.want_err,
                "{}: {outcome:?}",
                path.display()
            ),
        }
    }
    assert!(
        files.len() >= 90,
        "found only {} inclusion vectors",
        files.len()
    );
    // The one case whose leaf is given only by a hash with no known preimage, and which
    // must verify: a single-leaf tree whose root is that leaf hash.
    assert_eq!(skipped, ["matching-root-and-leaf.json"]);
}

#[test]
fn consistency_vectors() {
    let files = files("consistency");
    let mut skipped = Vec::new();
    for path in &files {
        let case: ConsistencyCase =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let outcome = run_consistency(&case);
        let garbage_roots = matches!(outcome, Err(TrustError::BadEncoding { .. }));
        if garbage_roots && !case.want_err {
            // Roots that are not 32-byte hashes cannot be expressed as [`Hash`]es.
            skipped.push(path.file_name().unwrap().to_string_lossy().into_owned());
            continue;
        }
        assert_eq!(
            outcome.is_err(),
            case.want_err,
            "{}: {outcome:?}",
            path.display()
        );
    }
    assert!(
        files.len() >= 90,
        "found only {} consistency vectors",
        files.len()
    );
    assert_eq!(skipped, ["sizes-are-equal-one-and-proof-is-empty.json"]);
}

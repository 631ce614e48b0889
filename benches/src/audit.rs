//! The audit Merkle tree on its own, at scale: a tree built directly from synthetic leaves (leaf
//! `i` is `SHA-256(0x00 || i as 8 little-endian bytes)`, recomputed when a proof needs a block,
//! as the store re-reads a block from the log), then inclusion and consistency proofs at random
//! points and head signing, each bounded in count.

use crate::measure::{self, Samples};
use crate::workload::SplitMix;
use mltrace_store::audit::{self, AuditKey, Hash, LeafSource, MerkleTree, leaf_hash};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Instant;

/// The synthetic leaves.
pub fn synthetic_leaf(i: u64) -> Hash {
    leaf_hash(&i.to_le_bytes())
}

/// Recomputes a block of synthetic leaves.
pub struct Synthetic;

impl LeafSource for Synthetic {
    type Error = Infallible;
    fn block(&mut self, index: u64) -> Result<Vec<Hash>, Infallible> {
        let from = index * audit::merkle::BLOCK;
        Ok((from..from + audit::merkle::BLOCK).map(synthetic_leaf).collect())
    }
}

/// A tree of `n` synthetic leaves.
pub fn build(n: u64) -> MerkleTree {
    let mut t = MerkleTree::default();
    for i in 0..n {
        t.push(synthetic_leaf(i));
    }
    t.shrink();
    t
}

/// Builds a tree of `leaves` leaves and measures it; one JSON object.
pub fn report(leaves: u64, proofs: u64, heads: u64) -> Value {
    let before = measure::memory(None);
    let t0 = Instant::now();
    let tree = build(leaves);
    let build_s = t0.elapsed().as_secs_f64();
    let after = measure::memory(None);
    let mut rng = SplitMix::new(7);
    let mut src = Synthetic;
    let size = tree.size();
    let root = tree.root(size, &mut src).unwrap_or_else(|e| match e {
        audit::ProofError::OutOfRange(m) => panic!("{m}"),
        audit::ProofError::Source(never) => match never {},
    });
    let (mut incl, mut path_len) = (Samples::default(), 0usize);
    for _ in 0..proofs {
        let leaf = rng.next_u64() % size;
        let t = Instant::now();
        let path = tree.inclusion(leaf, size, &mut src).ok().unwrap_or_default();
        incl.push(t.elapsed());
        path_len = path_len.max(path.len());
        assert!(audit::verify_inclusion(leaf, size, &synthetic_leaf(leaf), &path, &root), "a proof that fails");
    }
    let (mut cons, mut cons_len) = (Samples::default(), 0usize);
    for _ in 0..proofs {
        let from = 1 + rng.next_u64() % size;
        let t = Instant::now();
        let proof = tree.consistency(from, size, &mut src).ok().unwrap_or_default();
        cons.push(t.elapsed());
        cons_len = cons_len.max(proof.len());
    }
    let key =
        AuditKey::load_or_create(&std::env::temp_dir().join(format!("mltrace-bench-key-{}", std::process::id())), true)
            .unwrap_or_else(|e| panic!("a signing key: {e}"));
    let t = Instant::now();
    for i in 0..heads {
        std::hint::black_box(key.sign(size, root, i as i64));
    }
    let sign_s = t.elapsed().as_secs_f64();
    let head = key.sign(size, root, 0);
    let t = Instant::now();
    for _ in 0..heads {
        assert!(head.verify(&head.key));
    }
    let verify_s = t.elapsed().as_secs_f64();
    json!({
        "leaves": leaves,
        "build_seconds": (build_s * 1000.0).round() / 1000.0,
        "build_leaves_per_s": (leaves as f64 / build_s.max(1e-9)).round(),
        "tree_heap_bytes": tree.memory(),
        "tree_bytes_per_leaf": tree.memory() as f64 / leaves.max(1) as f64,
        "resident_growth_bytes": after.rss_bytes.saturating_sub(before.rss_bytes),
        "inclusion": incl.summary(),
        "inclusion_path_hashes_max": path_len,
        "inclusion_proof_bytes_max": path_len * 32,
        "consistency": cons.summary(),
        "consistency_path_hashes_max": cons_len,
        "heads_signed_per_s": (heads as f64 / sign_s.max(1e-9)).round(),
        "heads_verified_per_s": (heads as f64 / verify_s.max(1e-9)).round(),
    })
}

/// Proofs from a real store of `runs` runs (fsync off while building): unlike the synthetic tree,
/// each proof reads its blocks' records back from the log and hashes them, and signs a head.
pub fn store_report(runs: u64, proofs: u64) -> Value {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
    let t0 = Instant::now();
    let (store, _) = crate::build_store(dir.path(), "audit", crate::workload::Shape::default(), runs);
    let build_s = t0.elapsed().as_secs_f64();
    let events = store.last_seq();
    let mut rng = SplitMix::new(11);
    let (mut incl, mut bytes) = (Samples::default(), 0usize);
    for _ in 0..proofs {
        let seq = 1 + rng.next_u64() % events;
        let t = Instant::now();
        let p = store.inclusion_proof(seq, None).unwrap_or_else(|e| panic!("a proof: {e}"));
        incl.push(t.elapsed());
        bytes = bytes.max(audit::inclusion_json(&p).to_string().len());
    }
    let mut heads = Samples::default();
    for _ in 0..proofs.min(2_000) {
        let t = Instant::now();
        std::hint::black_box(store.signed_head(None).unwrap_or_else(|e| panic!("a head: {e}")));
        heads.push(t.elapsed());
    }
    let memory: Vec<(&str, usize)> = store.memory();
    let tree = memory.iter().find(|(k, _)| *k == "audit tree").map_or(0, |&(_, v)| v);
    json!({
        "runs": runs,
        "events": events,
        "build_seconds": (build_s * 1000.0).round() / 1000.0,
        "tree_heap_bytes": tree,
        "tree_bytes_per_event": tree as f64 / events.max(1) as f64,
        "inclusion_with_log_reads": incl.summary(),
        "inclusion_json_bytes_max": bytes,
        "signed_head_of_the_live_tree": heads.summary(),
    })
}

//! The Merkle tree over the log's events, as RFC 6962 (and RFC 9162) define it: leaves and inner
//! nodes hashed with SHA-256 under distinct one-byte prefixes, and the tree of `n` leaves split at
//! the largest power of two below `n`.
//!
//! What stays in memory is only what proofs need fast: the hash of every complete, aligned subtree
//! of at least [`BLOCK`] leaves, and the leaf hashes of the last, incomplete block. That is about
//! 2 bytes per event (`2 × 32 / BLOCK`) instead of the 64 a full tree costs. A proof that needs
//! hashes below a block's root asks a [`LeafSource`] for the block's leaf hashes (the store reads
//! them back from the log, which is the truth anyway) and hashes at most `BLOCK - 1` nodes.
//!
//! This module only computes; it never reads a file. Verification functions are here too, written
//! from RFC 9162's algorithms (sections 2.1.3.2 and 2.1.4.2), so that a proof is checked by code
//! that does not share the producer's recursion.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// log2 of [`BLOCK`].
pub const BLOCK_LOG2: u32 = 5;
/// Leaves per block: the smallest subtree whose hash is kept in memory.
pub const BLOCK: u64 = 1 << BLOCK_LOG2;

/// The hash of a leaf: `SHA-256(0x00 || bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where the leaf hashes of complete blocks come from when a proof needs them.
pub trait LeafSource {
    /// Why a block could not be read.
    type Error;
    /// The [`BLOCK`] leaf hashes of block `index` (leaves `index * BLOCK ..`), which is complete.
    fn block(&mut self, index: u64) -> Result<Vec<Hash>, Self::Error>;
}

/// Why a proof cannot be given.
#[derive(Debug, PartialEq, Eq)]
pub enum ProofError<E> {
    /// The sizes or index asked for are out of range; the message says which and why.
    OutOfRange(String),
    /// The leaf source failed.
    Source(E),
}

/// The tree: complete-subtree hashes from [`BLOCK`] leaves up, and the last block's leaves.
#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq)]
pub struct MerkleTree {
    /// `levels[j][i]` is the root of leaves `i·2^(B+j) .. (i+1)·2^(B+j)` (B = [`BLOCK_LOG2`]).
    levels: Vec<Vec<Hash>>,
    /// Leaf hashes of the incomplete last block (fewer than [`BLOCK`]).
    tail: Vec<Hash>,
    size: u64,
}

fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

impl MerkleTree {
    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.tail.push(leaf);
        self.size += 1;
        if self.tail.len() as u64 == BLOCK {
            let root = root_of_leaves(&self.tail);
            self.tail.clear();
            self.push_node(0, root);
        }
    }

    fn push_node(&mut self, level: usize, hash: Hash) {
        if self.levels.len() == level {
            self.levels.push(Vec::new());
        }
        let nodes = &mut self.levels[level];
        nodes.push(hash);
        if nodes.len().is_multiple_of(2) {
            let parent = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            self.push_node(level + 1, parent);
        }
    }

    /// Gives back spare capacity (after a replay).
    pub fn shrink(&mut self) {
        self.levels.iter_mut().for_each(Vec::shrink_to_fit);
        self.tail.shrink_to_fit();
    }

    /// Heap bytes held.
    pub fn memory(&self) -> usize {
        self.levels.iter().map(|l| l.capacity() * 32).sum::<usize>() + self.tail.capacity() * 32
    }

    /// The kept hash of the complete aligned subtree `[lo, lo + 2^h)`, if it is kept.
    fn kept(&self, lo: u64, h: u32) -> Option<Hash> {
        let level = h.checked_sub(BLOCK_LOG2)? as usize;
        self.levels.get(level)?.get((lo >> h) as usize).copied()
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root<S: LeafSource>(&self, size: u64, src: &mut S) -> Result<Hash, ProofError<S::Error>> {
        self.check_size("size", size)?;
        Walk::new(self, src).mth(0, size)
    }

    /// RFC 6962's audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion<S: LeafSource>(
        &self,
        index: u64,
        size: u64,
        src: &mut S,
    ) -> Result<Vec<Hash>, ProofError<S::Error>> {
        self.check_size("size", size)?;
        if index >= size {
            return Err(ProofError::OutOfRange(format!("leaf {index} is not in a tree of {size} leaves")));
        }
        let mut walk = Walk::new(self, src);
        let mut path = Vec::new();
        walk.path(index, 0, size, &mut path)?;
        Ok(path)
    }

    /// RFC 6962's consistency proof between the trees of the first `from` and `to` leaves.
    pub fn consistency<S: LeafSource>(
        &self,
        from: u64,
        to: u64,
        src: &mut S,
    ) -> Result<Vec<Hash>, ProofError<S::Error>> {
        self.check_size("to", to)?;
        if from > to {
            return Err(ProofError::OutOfRange(format!("from ({from}) is larger than to ({to})")));
        }
        let mut proof = Vec::new();
        if from > 0 && from < to {
            Walk::new(self, src).subproof(from, 0, to, true, &mut proof)?;
        }
        Ok(proof)
    }

    /// The leaf hash of leaf `index`.
    pub fn leaf<S: LeafSource>(&self, index: u64, src: &mut S) -> Result<Hash, ProofError<S::Error>> {
        if index >= self.size {
            return Err(ProofError::OutOfRange(format!("leaf {index} is not in a tree of {} leaves", self.size)));
        }
        Walk::new(self, src).leaf(index)
    }

    fn check_size<E>(&self, what: &str, size: u64) -> Result<(), ProofError<E>> {
        if size > self.size {
            return Err(ProofError::OutOfRange(format!("{what} ({size}) is larger than the tree ({})", self.size)));
        }
        Ok(())
    }
}

/// Where two trees of the same size first differ: `None` when they do not; else the first block
/// whose root differs (`Some(block), _`) or, when every complete block matches, the first leaf of
/// the last block that differs (`None, Some(leaf)`). Trees of different sizes differ at block 0.
pub fn compare(a: &MerkleTree, b: &MerkleTree) -> Option<(Option<u64>, Option<u64>)> {
    if a == b {
        return None;
    }
    if a.size != b.size {
        return Some((Some(0), None));
    }
    let empty = Vec::new();
    let (la, lb) = (a.levels.first().unwrap_or(&empty), b.levels.first().unwrap_or(&empty));
    if let Some(i) = la.iter().zip(lb).position(|(x, y)| x != y) {
        return Some((Some(i as u64), None));
    }
    let first_tail_leaf = la.len() as u64 * BLOCK;
    let leaf = a.tail.iter().zip(&b.tail).position(|(x, y)| x != y).map(|i| first_tail_leaf + i as u64);
    Some((None, leaf.or(Some(first_tail_leaf))))
}

/// The root of a list of leaf hashes (RFC 6962's MTH over them).
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n as u64) as usize;
            node_hash(&root_of_leaves(&leaves[..k]), &root_of_leaves(&leaves[k..]))
        }
    }
}

/// One proof's walk over the tree, remembering the blocks it read.
struct Walk<'t, 's, S: LeafSource> {
    tree: &'t MerkleTree,
    src: &'s mut S,
    blocks: Vec<(u64, Vec<Hash>)>,
}

impl<'t, 's, S: LeafSource> Walk<'t, 's, S> {
    fn new(tree: &'t MerkleTree, src: &'s mut S) -> Self {
        Walk { tree, src, blocks: Vec::new() }
    }

    fn leaf(&mut self, index: u64) -> Result<Hash, ProofError<S::Error>> {
        let block = index >> BLOCK_LOG2;
        let at = (index & (BLOCK - 1)) as usize;
        if block == self.tree.size >> BLOCK_LOG2 {
            return Ok(self.tree.tail[at]);
        }
        if let Some((_, leaves)) = self.blocks.iter().find(|(b, _)| *b == block) {
            return Ok(leaves[at]);
        }
        let leaves = self.src.block(block).map_err(ProofError::Source)?;
        if leaves.len() as u64 != BLOCK {
            return Err(ProofError::OutOfRange(format!("block {block} has {} leaves, not {BLOCK}", leaves.len())));
        }
        let hash = leaves[at];
        self.blocks.push((block, leaves));
        Ok(hash)
    }

    /// MTH(D[lo:hi]); every range asked for is aligned the way RFC 6962's split makes it.
    fn mth(&mut self, lo: u64, hi: u64) -> Result<Hash, ProofError<S::Error>> {
        let n = hi - lo;
        match n {
            0 => return Ok(empty_root()),
            1 => return self.leaf(lo),
            _ => {}
        }
        if n.is_power_of_two()
            && let Some(h) = self.tree.kept(lo, n.trailing_zeros())
        {
            return Ok(h);
        }
        let k = largest_power_of_two_below(n);
        let left = self.mth(lo, lo + k)?;
        let right = self.mth(lo + k, hi)?;
        Ok(node_hash(&left, &right))
    }

    /// PATH(m, D[lo:hi]), appended to `out` from the leaf up.
    fn path(&mut self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<(), ProofError<S::Error>> {
        let n = hi - lo;
        if n <= 1 {
            return Ok(());
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            self.path(m, lo, lo + k, out)?;
            out.push(self.mth(lo + k, hi)?);
        } else {
            self.path(m - k, lo + k, hi, out)?;
            out.push(self.mth(lo, lo + k)?);
        }
        Ok(())
    }

    /// SUBPROOF(m, D[lo:hi], b), appended to `out` from the bottom up.
    fn subproof(
        &mut self,
        m: u64,
        lo: u64,
        hi: u64,
        whole: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), ProofError<S::Error>> {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.mth(lo, hi)?);
            }
            return Ok(());
        }
        let k = largest_power_of_two_below(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out)?;
            out.push(self.mth(lo + k, hi)?);
        } else {
            self.subproof(m - k, lo + k, hi, false, out)?;
            out.push(self.mth(lo, lo + k)?);
        }
        Ok(())
    }
}

/// Checks an inclusion proof (RFC 9162, 2.1.3.2): does `leaf` sit at `index` of the tree of `size`
/// leaves whose root is `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Checks a consistency proof (RFC 9162, 2.1.4.2): is the tree of `from` leaves with root
/// `from_root` a prefix of the tree of `to` leaves with root `to_root`?
pub fn verify_consistency(from: u64, to: u64, from_root: &Hash, to_root: &Hash, proof: &[Hash]) -> bool {
    if from > to {
        return false;
    }
    if from == to {
        return proof.is_empty() && from_root == to_root;
    }
    if from == 0 {
        // The empty tree is a prefix of every tree.
        return proof.is_empty() && *from_root == empty_root();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*from_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut f, mut s) = (from - 1, to - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *from_root && sr == *to_root && s == 0
}

#[cfg(test)]
mod tests {
    //! Against a deliberately naive reference: RFC 6962's definitions transcribed literally over a
    //! list of leaves, slicing and recursing, with no kept levels and no alignment tricks.
    use super::*;

    struct Vector(Vec<Hash>);

    impl LeafSource for Vector {
        type Error = ();
        fn block(&mut self, index: u64) -> Result<Vec<Hash>, ()> {
            let at = (index * BLOCK) as usize;
            Ok(self.0[at..at + BLOCK as usize].to_vec())
        }
    }

    fn k_of(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn naive_mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => Sha256::digest([]).into(),
            1 => d[0],
            n => {
                let k = k_of(n);
                node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
            }
        }
    }

    fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return vec![];
        }
        let k = k_of(d.len());
        if m < k {
            let mut p = naive_path(m, &d[..k]);
            p.push(naive_mth(&d[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &d[k..]);
            p.push(naive_mth(&d[..k]));
            p
        }
    }

    fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![naive_mth(d)] };
        }
        let k = k_of(n);
        if m <= k {
            let mut p = naive_subproof(m, &d[..k], b);
            p.push(naive_mth(&d[k..]));
            p
        } else {
            let mut p = naive_subproof(m - k, &d[k..], false);
            p.push(naive_mth(&d[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u32).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    fn tree_of(d: &[Hash]) -> MerkleTree {
        let mut t = MerkleTree::default();
        d.iter().for_each(|&l| t.push(l));
        t
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn roots_match_rfc_6962_test_vectors() {
        // The eight leaves and the roots of their prefixes used by the certificate-transparency
        // and Trillian test suites.
        let data = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let d: Vec<Hash> = data.iter().map(|x| leaf_hash(&unhex(x))).collect();
        let t = tree_of(&d);
        let mut src = Vector(d.clone());
        assert_eq!(
            hex(&t.root(0, &mut src).unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (i, want) in roots.iter().enumerate() {
            assert_eq!(hex(&t.root(i as u64 + 1, &mut src).unwrap()), *want, "root of {} leaves", i + 1);
        }
    }

    #[test]
    fn every_tree_size_to_300_has_the_reference_root_and_inclusion_proofs() {
        let all = leaves(300);
        let mut t = MerkleTree::default();
        let mut src = Vector(all.clone());
        for n in 0..=300usize {
            if n > 0 {
                t.push(all[n - 1]);
            }
            let want = naive_mth(&all[..n]);
            assert_eq!(t.root(n as u64, &mut src).unwrap(), want, "root of {n}");
            for m in 0..n {
                let p = t.inclusion(m as u64, n as u64, &mut src).unwrap();
                // The naive path costs O(n) hashes; comparing it at every size would take minutes,
                // so it is compared at the small sizes and the last, and the RFC's verifier checks all.
                if n <= 70 || n == 300 {
                    assert_eq!(p, naive_path(m, &all[..n]), "path of {m} in {n}");
                }
                assert!(verify_inclusion(m as u64, n as u64, &all[m], &p, &want), "path of {m} in {n}");
            }
        }
        // Historical sizes from the full tree, too (the kept levels cover more than they ask).
        for n in 1..=300usize {
            let want = naive_mth(&all[..n]);
            assert_eq!(t.root(n as u64, &mut src).unwrap(), want, "root of {n} from a tree of 300");
            for m in (0..n).step_by(7) {
                assert_eq!(t.inclusion(m as u64, n as u64, &mut src).unwrap(), naive_path(m, &all[..n]));
            }
        }
    }

    #[test]
    fn consistency_for_every_pair_of_sizes_to_64() {
        let all = leaves(64);
        let t = tree_of(&all);
        let mut src = Vector(all.clone());
        for to in 0..=64usize {
            let to_root = naive_mth(&all[..to]);
            for from in 0..=to {
                let p = t.consistency(from as u64, to as u64, &mut src).unwrap();
                let want = if from == 0 || from == to { vec![] } else { naive_subproof(from, &all[..to], true) };
                assert_eq!(p, want, "proof {from} -> {to}");
                let from_root = naive_mth(&all[..from]);
                assert!(verify_consistency(from as u64, to as u64, &from_root, &to_root, &p), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn consistency_across_blocks_at_larger_sizes() {
        let all = leaves(1000);
        let t = tree_of(&all);
        let mut src = Vector(all.clone());
        for (from, to) in [(1, 1000), (31, 33), (32, 64), (33, 999), (500, 1000), (511, 513), (999, 1000)] {
            let p = t.consistency(from, to, &mut src).unwrap();
            assert_eq!(p, naive_subproof(from as usize, &all[..to as usize], true), "{from} -> {to}");
            let (a, b) = (naive_mth(&all[..from as usize]), naive_mth(&all[..to as usize]));
            assert!(verify_consistency(from, to, &a, &b, &p));
        }
    }

    #[test]
    fn verifiers_reject_what_does_not_hold() {
        let all = leaves(40);
        let t = tree_of(&all);
        let mut src = Vector(all.clone());
        let root = naive_mth(&all);
        let p = t.inclusion(5, 40, &mut src).unwrap();
        assert!(verify_inclusion(5, 40, &all[5], &p, &root));
        assert!(!verify_inclusion(6, 40, &all[5], &p, &root), "wrong index");
        assert!(!verify_inclusion(5, 40, &all[6], &p, &root), "wrong leaf");
        assert!(!verify_inclusion(5, 100, &all[5], &p, &root), "wrong size");
        assert!(!verify_inclusion(5, 40, &all[5], &p[..p.len() - 1], &root), "short proof");
        let mut bad = p.clone();
        bad[0][0] ^= 1;
        assert!(!verify_inclusion(5, 40, &all[5], &bad, &root), "edited proof");
        let c = t.consistency(13, 40, &mut src).unwrap();
        let old = naive_mth(&all[..13]);
        assert!(verify_consistency(13, 40, &old, &root, &c));
        let mut other = all[..13].to_vec();
        other.swap(2, 3);
        assert!(!verify_consistency(13, 40, &naive_mth(&other), &root, &c), "reordered prefix");
        assert!(!verify_consistency(12, 40, &old, &root, &c), "wrong size");
        assert!(!verify_consistency(13, 40, &old, &root, &c[1..]), "short proof");
    }

    #[test]
    fn out_of_range_asks_are_refused() {
        let all = leaves(10);
        let t = tree_of(&all);
        let mut src = Vector(all);
        assert!(matches!(t.inclusion(10, 10, &mut src), Err(ProofError::OutOfRange(_))));
        assert!(matches!(t.inclusion(0, 11, &mut src), Err(ProofError::OutOfRange(_))));
        assert!(matches!(t.consistency(5, 4, &mut src), Err(ProofError::OutOfRange(_))));
        assert!(matches!(t.root(11, &mut src), Err(ProofError::OutOfRange(_))));
    }
}

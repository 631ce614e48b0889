//! Audit-grade history: a Merkle tree over the log's events (RFC 6962), tree heads signed with the
//! server's Ed25519 key, inclusion and consistency proofs, and the check of a data directory
//! against the heads written into its own log.
//!
//! **What is hashed.** Leaf `i` (0-based) is the event with seq `i + 1`, hashed as
//! `SHA-256(0x00 || payload)`, where `payload` is the record's payload bytes exactly as stored in
//! the segment file (the bytes after the 12-byte frame, see [`crate::codec`]). Proofs carry those
//! bytes (base64), so a verifier recomputes the leaf from what it was given, not from our decoding.
//! Inner nodes are `SHA-256(0x01 || left || right)`; the tree of `n` leaves splits at the largest
//! power of two below `n`; the empty tree's root is `SHA-256()`.
//!
//! | module     | owns                                                               |
//! |------------|--------------------------------------------------------------------|
//! | [`merkle`] | the tree in memory, proofs, and their verification                 |
//! | [`head`]   | the signing key, the signed message, signed tree heads             |
//! | here       | the store's audit reads and writes, their JSON, the directory check |
//!
//! The tree lives in the state (so checkpoints carry it) and is fed only with records that were
//! written: a batch's leaves are added after its write succeeded, and replay adds each record's
//! leaf as it is read.

pub mod head;
pub mod merkle;

pub use head::{AuditKey, TreeHead, key_path, signed_message};
pub use merkle::{
    Hash, LeafSource, MerkleTree, ProofError, leaf_hash, node_hash, verify_consistency, verify_inclusion,
};

use crate::error::{Result, StoreError};
use crate::event::{EventKind, EventKindRef, RunId, Seq};
use crate::log::{Loc, Log, LogOptions};
use crate::store::Store;
use crate::time::{AsOf, Timestamp};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The key a store signs with: the file named in the options, else the directory's own (created
/// on a writable open; a read-only open of a directory without one has none).
pub(crate) fn open_key(dir: &Path, opts: &LogOptions) -> Result<Option<AuditKey>> {
    if let Some(file) = &opts.signing_key {
        return AuditKey::read(file).map(Some);
    }
    if opts.read_only && !key_path(dir).exists() {
        return Ok(None);
    }
    AuditKey::load_or_create(dir, !opts.read_only).map(Some)
}

/// Reads complete blocks of leaf hashes back from the log.
struct LogLeaves<'a> {
    log: &'a Log,
    locs: &'a [Loc],
}

impl LeafSource for LogLeaves<'_> {
    type Error = StoreError;
    fn block(&mut self, index: u64) -> Result<Vec<Hash>> {
        let from = (index * merkle::BLOCK) as usize;
        let locs = self.locs.get(from..from + merkle::BLOCK as usize).ok_or_else(|| {
            StoreError::not_found("seq", format!("block {index} of the audit tree is beyond the log"))
        })?;
        let mut leaves = Vec::with_capacity(locs.len());
        self.log.for_each_payload(locs, |payload| leaves.push(leaf_hash(payload)))?;
        Ok(leaves)
    }
}

fn proof_error(field: &str) -> impl Fn(ProofError<StoreError>) -> StoreError + '_ {
    move |e| match e {
        ProofError::OutOfRange(message) => StoreError::invalid(field, message),
        ProofError::Source(e) => e,
    }
}

/// That event `seq` is in the tree of `size` events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The event.
    pub seq: Seq,
    /// The tree's size.
    pub size: u64,
    /// The event's payload bytes as stored (its leaf is `SHA-256(0x00 || event)`).
    pub event: Vec<u8>,
    /// The audit path, from the leaf up.
    pub path: Vec<Hash>,
}

/// That the tree of `from` events is a prefix of the tree of `to` events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The smaller size.
    pub from: u64,
    /// The larger size.
    pub to: u64,
    /// Root of the first `from` events, as the log holds them now.
    pub from_root: Hash,
    /// Root of the first `to` events.
    pub to_root: Hash,
    /// RFC 6962's proof.
    pub path: Vec<Hash>,
}

/// The events behind an answer, their inclusion proofs, and the signed head they check against.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// A head of the tree the answer was read at.
    pub head: TreeHead,
    /// One proof per event, by seq.
    pub events: Vec<InclusionProof>,
}

impl Store {
    fn signer(&self) -> Result<&AuditKey> {
        self.key.as_ref().ok_or_else(|| {
            StoreError::not_found(
                "key",
                format!("{} has no signing key yet: the first writable open creates it", self.dir().display()),
            )
        })
    }

    fn check_merkle(&self) -> Result<()> {
        if self.merkle { Ok(()) } else { Err(StoreError::Unavailable("the audit tree is turned off".into())) }
    }

    /// The public key tree heads are signed with.
    pub fn audit_key(&self) -> Result<[u8; 32]> {
        self.signer().map(AuditKey::public)
    }

    /// The number of events in the tree at `as_of` (every acknowledged event when `None`).
    pub fn tree_size(&self, as_of: Option<AsOf>) -> Seq {
        self.reader(as_of).seq()
    }

    /// A tree head over the events at `as_of` (all acknowledged ones when `None`), signed now.
    /// Nothing is written.
    pub fn signed_head(&self, as_of: Option<AsOf>) -> Result<TreeHead> {
        self.check_merkle()?;
        let key = self.signer()?;
        let size = self.tree_size(as_of);
        let st = self.state();
        let root =
            st.tree.root(size, &mut LogLeaves { log: &self.log, locs: &st.locs }).map_err(proof_error("as_of"))?;
        Ok(key.sign(size, root, Timestamp::now().0.max(st.last_time())))
    }

    /// Signs the tree of every event written so far and appends the head to the log as a
    /// `TreeHead` event; answers the event's seq and the head.
    pub fn record_head(&self) -> Result<(Seq, TreeHead)> {
        self.check_merkle()?;
        let key = self.signer()?;
        self.write_again(|st, batch| {
            let size = st.last_seq;
            if st.tree.size() != size {
                return Err(StoreError::Unavailable(format!(
                    "the audit tree holds {} events, the log {size}; reopen the store",
                    st.tree.size()
                )));
            }
            let root =
                st.tree.root(size, &mut LogLeaves { log: &self.log, locs: &st.locs }).map_err(proof_error("size"))?;
            let head = key.sign(size, root, batch.at);
            let kind = EventKind::TreeHead { size, root, key: head.key, signature: head.signature.to_vec() };
            let seq = batch.push(st, kind);
            Ok(((seq, head), 0))
        })
    }

    /// Writes a head before a checkpoint, unless the last event already is one (or writes are off).
    pub(crate) fn head_for_checkpoint(&self) -> Result<()> {
        if !self.merkle || self.key.is_none() || self.log.failure().is_some() || self.log.options().read_only {
            return Ok(());
        }
        {
            let st = self.state();
            if st.last_seq == 0 || st.last_head == st.last_seq {
                return Ok(());
            }
        }
        self.record_head().map(|_| ())
    }

    fn check_size(&self, field: &str, size: u64) -> Result<()> {
        let last = self.last_seq();
        if size > last {
            return Err(StoreError::invalid(field, format!("{field} ({size}) is larger than the log ({last} events)")));
        }
        Ok(())
    }

    /// Proves that event `seq` is in the tree of `size` events (all acknowledged ones when `None`).
    pub fn inclusion_proof(&self, seq: Seq, size: Option<u64>) -> Result<InclusionProof> {
        self.check_merkle()?;
        let size = size.unwrap_or_else(|| self.last_seq());
        self.check_size("size", size)?;
        if seq == 0 || seq > size {
            return Err(StoreError::invalid("seq", format!("seq must be between 1 and size ({size}), not {seq}")));
        }
        let st = self.state();
        self.prove(&st, seq, size)
    }

    fn prove(&self, st: &crate::state::State, seq: Seq, size: u64) -> Result<InclusionProof> {
        let loc = st.locs[seq as usize - 1];
        let event = self.log.read_payload(loc)?;
        let path = st
            .tree
            .inclusion(seq - 1, size, &mut LogLeaves { log: &self.log, locs: &st.locs })
            .map_err(proof_error("seq"))?;
        Ok(InclusionProof { seq, size, event, path })
    }

    /// Proves that the tree of `from` events is a prefix of the tree of `to` events (all
    /// acknowledged ones when `None`).
    pub fn consistency_proof(&self, from: u64, to: Option<u64>) -> Result<ConsistencyProof> {
        self.check_merkle()?;
        let to = to.unwrap_or_else(|| self.last_seq());
        self.check_size("to", to)?;
        if from > to {
            return Err(StoreError::invalid("from", format!("from ({from}) must not be larger than to ({to})")));
        }
        let st = self.state();
        let mut src = LogLeaves { log: &self.log, locs: &st.locs };
        let path = st.tree.consistency(from, to, &mut src).map_err(proof_error("from"))?;
        let from_root = st.tree.root(from, &mut src).map_err(proof_error("from"))?;
        let to_root = st.tree.root(to, &mut src).map_err(proof_error("to"))?;
        Ok(ConsistencyProof { from, to, from_root, to_root, path })
    }

    /// The evidence behind what the store says about runs `ids` at `as_of`: each run's own event and
    /// the events that set its notes, with inclusion proofs against one head signed now.
    pub fn run_evidence(&self, ids: &[RunId], as_of: Option<AsOf>) -> Result<Evidence> {
        let head = self.signed_head(as_of)?;
        let st = self.state();
        let mut seqs: Vec<Seq> = Vec::new();
        for &id in ids {
            if let Some(row) = st.row(id).filter(|r| r.seq <= head.size) {
                seqs.push(row.seq);
            }
            if let Some(notes) = st.notes.get(&id) {
                seqs.extend(notes.iter().map(|&(seq, _)| seq).filter(|&s| s <= head.size));
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        let events = seqs.into_iter().map(|seq| self.prove(&st, seq, head.size)).collect::<Result<_>>()?;
        Ok(Evidence { head, events })
    }
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// A head as JSON: `{"size","root","timestamp","time","public_key","signature"}`, plus `"seq"` when
/// the head was written to the log as that event.
pub fn head_json(head: &TreeHead, seq: Option<Seq>) -> Value {
    let mut v = json!({
        "size": head.size,
        "root": b64(&head.root),
        "timestamp": head.time,
        "time": Timestamp(head.time),
        "public_key": b64(&head.key),
        "signature": b64(&head.signature),
    });
    if let Some(seq) = seq {
        v["seq"] = json!(seq);
    }
    v
}

/// Reads a head back from its JSON (a saved head file, an event line of type `tree_head`).
pub fn head_from_json(v: &Value) -> std::result::Result<TreeHead, String> {
    let bytes = |key: &str, len: usize| -> std::result::Result<Vec<u8>, String> {
        let text = v.get(key).and_then(Value::as_str).ok_or_else(|| format!("the head has no `{key}`"))?;
        let b = B64.decode(text).map_err(|e| format!("`{key}` is not base64: {e}"))?;
        if b.len() != len {
            return Err(format!("`{key}` is {} bytes, not {len}", b.len()));
        }
        Ok(b)
    };
    let size = v.get("size").and_then(Value::as_u64).ok_or("the head has no `size`")?;
    let time = v.get("timestamp").and_then(Value::as_i64).ok_or("the head has no `timestamp`")?;
    let mut head = TreeHead { size, root: [0; 32], time, key: [0; 32], signature: [0; 64] };
    head.root.copy_from_slice(&bytes("root", 32)?);
    head.key.copy_from_slice(&bytes("public_key", 32)?);
    head.signature.copy_from_slice(&bytes("signature", 64)?);
    Ok(head)
}

/// The public key as JSON.
pub fn key_json(key: &[u8; 32]) -> Value {
    json!({"algorithm": "ed25519", "public_key": b64(key)})
}

/// An inclusion proof as JSON: `{"seq","size","leaf_index","event","leaf_hash","path"}`.
pub fn inclusion_json(p: &InclusionProof) -> Value {
    json!({
        "seq": p.seq,
        "size": p.size,
        "leaf_index": p.seq - 1,
        "event": b64(&p.event),
        "leaf_hash": b64(&leaf_hash(&p.event)),
        "path": p.path.iter().map(|h| b64(h)).collect::<Vec<_>>(),
    })
}

/// A consistency proof as JSON: `{"from","to","from_root","to_root","path"}`.
pub fn consistency_json(p: &ConsistencyProof) -> Value {
    json!({
        "from": p.from,
        "to": p.to,
        "from_root": b64(&p.from_root),
        "to_root": b64(&p.to_root),
        "path": p.path.iter().map(|h| b64(h)).collect::<Vec<_>>(),
    })
}

/// Evidence as JSON: `{"head", "events": [inclusion proofs]}`.
pub fn evidence_json(e: &Evidence) -> Value {
    json!({"head": head_json(&e.head, None), "events": e.events.iter().map(inclusion_json).collect::<Vec<_>>()})
}

/// Decodes a list of base64 hashes (a proof's `path`).
pub fn hashes_from_json(v: &Value, key: &str) -> std::result::Result<Vec<Hash>, String> {
    let items = v.get(key).and_then(Value::as_array).ok_or_else(|| format!("no `{key}` list"))?;
    items
        .iter()
        .map(|x| {
            let b = x
                .as_str()
                .and_then(|t| B64.decode(t).ok())
                .ok_or_else(|| format!("`{key}` holds a non-base64 item"))?;
            <Hash>::try_from(b.as_slice()).map_err(|_| format!("`{key}` holds an item that is not 32 bytes"))
        })
        .collect()
}

/// Decodes one base64 hash field.
pub fn hash_from_json(v: &Value, key: &str) -> std::result::Result<Hash, String> {
    let text = v.get(key).and_then(Value::as_str).ok_or_else(|| format!("no `{key}`"))?;
    let b = B64.decode(text).map_err(|e| format!("`{key}` is not base64: {e}"))?;
    <Hash>::try_from(b.as_slice()).map_err(|_| format!("`{key}` is not 32 bytes"))
}

/// What [`verify_dir`] checked.
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    /// The record-level check.
    pub log: crate::log::VerifyReport,
    /// Signed tree heads found in the log, all of which match.
    pub heads: u64,
    /// The root of the whole log.
    pub root: Hash,
    /// Events the checkpoint's tree covers, when it was compared (0: no usable checkpoint).
    pub checkpoint_size: u64,
}

/// One place where the log does not match what was signed or saved.
struct Finding {
    first: Seq,
    last: Seq,
    path: PathBuf,
    offset: u64,
    what: String,
}

/// Checks every record (as [`crate::log::verify`] does), recomputes the Merkle tree from the
/// records' bytes, and checks every signed tree head in the log against it and against `key` (the
/// directory's key when `None`), and the checkpoint's tree too. The first mismatch is an error
/// naming the event or the range of events where the log stopped matching.
pub fn verify_dir(dir: &Path, key: Option<[u8; 32]>, progress: impl FnMut(u64, u64)) -> Result<AuditReport> {
    let key = match key {
        Some(k) => Some(k),
        None if key_path(dir).exists() => Some(AuditKey::read(&key_path(dir))?.public()),
        None => None,
    };
    let checkpoint =
        crate::checkpoint::read(&crate::storage::Fs, dir).ok().flatten().map(|l| l.state.tree).filter(|t| t.size() > 0);
    let segment = |loc: Loc| dir.join("log").join(format!("{:08}.seg", loc.segment()));
    let mut tree = MerkleTree::default();
    let mut findings: Vec<Finding> = Vec::new();
    let mut heads = 0u64;
    // Events after the last head that matched: where a later mismatch must be.
    let mut good_up_to: Seq = 0;
    let mut compared_checkpoint = false;
    let mut none = NoLeaves;
    let log = crate::log::verify_with(dir, progress, |event, loc, leaf| {
        if let EventKindRef::TreeHead { size, root, key: signer, signature } = &event.kind {
            heads += 1;
            let at_seq = event.seq;
            let mut bad = |what: String| {
                findings.push(Finding {
                    first: good_up_to + 1,
                    last: *size,
                    path: segment(loc),
                    offset: loc.offset(),
                    what,
                })
            };
            if *size != tree.size() {
                bad(format!(
                    "the tree head at seq {at_seq} was signed for {size} events, but {} events precede it: events \
                     were removed or added among seq {}..={size}",
                    tree.size(),
                    good_up_to + 1
                ));
            } else {
                let ours = tree.root(*size, &mut none).unwrap_or_else(|_| merkle::empty_root());
                let mut sig = [0u8; 64];
                let sig_ok = signature.len() == 64;
                if sig_ok {
                    sig.copy_from_slice(signature);
                }
                let head = TreeHead { size: *size, root: *root, time: event.at, key: *signer, signature: sig };
                if ours != *root {
                    bad(format!(
                        "the tree head at seq {at_seq} signed a root for events 1..={size} that the log no longer \
                         has: an event among seq {}..={size} was changed, removed or reordered",
                        good_up_to + 1
                    ));
                } else if key.is_some_and(|k| k != *signer) {
                    bad(format!(
                        "the tree head at seq {at_seq} names the key {}, not this data directory's key {}",
                        b64(signer),
                        key.map(|k| b64(&k)).unwrap_or_default()
                    ));
                } else if !sig_ok || !head.verify(signer) {
                    bad(format!("the signature of the tree head at seq {at_seq} does not verify"));
                } else if findings.is_empty() {
                    good_up_to = *size;
                }
            }
        }
        tree.push(*leaf);
        if let Some(ck) = &checkpoint
            && !compared_checkpoint
            && ck.size() == tree.size()
        {
            compared_checkpoint = true;
            if let Some((first, last)) = first_difference(ck, &tree) {
                findings.push(Finding {
                    first,
                    last,
                    path: crate::checkpoint::path(dir),
                    offset: 0,
                    what: if first == last {
                        format!("event seq {first} differs from what the checkpoint's audit tree recorded")
                    } else {
                        format!(
                            "an event among seq {first}..={last} differs from what the checkpoint's audit tree recorded"
                        )
                    },
                });
            }
        }
        Ok(())
    })?;
    if let Some(ck) = &checkpoint
        && ck.size() > tree.size()
    {
        findings.push(Finding {
            first: tree.size() + 1,
            last: ck.size(),
            path: crate::checkpoint::path(dir),
            offset: 0,
            what: format!(
                "the checkpoint's audit tree covers {} events but the log has {}: events seq {}..={} were removed",
                ck.size(),
                tree.size(),
                tree.size() + 1,
                ck.size()
            ),
        });
    }
    // The finding that bounds the damage soonest names the first event that does not match.
    if let Some(f) = findings.into_iter().min_by_key(|f| (f.last, std::cmp::Reverse(f.first))) {
        return Err(StoreError::Corrupt { path: f.path, offset: f.offset, reason: f.what });
    }
    let root = tree.root(tree.size(), &mut none).unwrap_or_else(|_| merkle::empty_root());
    Ok(AuditReport { log, heads, root, checkpoint_size: if compared_checkpoint { tree_size(&checkpoint) } else { 0 } })
}

fn tree_size(t: &Option<MerkleTree>) -> u64 {
    t.as_ref().map_or(0, MerkleTree::size)
}

/// A source for trees whose proofs are asked only at their full size (which needs no block).
struct NoLeaves;

impl LeafSource for NoLeaves {
    type Error = ();
    fn block(&mut self, _: u64) -> std::result::Result<Vec<Hash>, ()> {
        Err(())
    }
}

/// The first seqs (inclusive range) where two trees of the same size differ, if they do.
fn first_difference(a: &MerkleTree, b: &MerkleTree) -> Option<(Seq, Seq)> {
    let (blocks, tail) = merkle::compare(a, b)?;
    match (blocks, tail) {
        (Some(block), _) => Some((block * merkle::BLOCK + 1, (block + 1) * merkle::BLOCK)),
        (None, Some(leaf)) => Some((leaf + 1, leaf + 1)),
        (None, None) => None,
    }
}

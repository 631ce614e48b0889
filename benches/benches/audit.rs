//! Criterion benchmarks of the audit Merkle tree, bounded in time: appending leaves, proofs in a
//! tree of 10,000,000 leaves built directly (synthetic leaves, see `mltrace_benches::audit`; the
//! build takes some seconds and is done once), and signing and verifying tree heads. The p50/p99
//! figures in BENCHMARKS.md come from `loadgen audit`, which keeps every sample.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mltrace_benches::audit::{Synthetic, build, synthetic_leaf};
use mltrace_store::audit::{AuditKey, MerkleTree, leaf_hash};
use std::hint::black_box;
use std::time::Duration;

const LEAVES: u64 = 10_000_000;

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("audit_append");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(1000));
    // A run event's payload is a few hundred bytes: hash 300 and push, as an append does.
    let payload = vec![7u8; 300];
    g.bench_function("hash_and_push_1000_events", |b| {
        b.iter_batched(
            MerkleTree::default,
            |mut t| {
                for _ in 0..1000 {
                    t.push(leaf_hash(&payload));
                }
                t
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let tree = build(LEAVES);
    let mut g = c.benchmark_group("audit_proofs_10M");
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let mut i = 0u64;
    g.bench_function("inclusion", |b| {
        b.iter(|| {
            i = (i + 7_654_321) % LEAVES;
            black_box(tree.inclusion(i, LEAVES, &mut Synthetic).ok())
        })
    });
    let mut j = 1u64;
    g.bench_function("consistency", |b| {
        b.iter(|| {
            j = 1 + (j + 7_654_321) % (LEAVES - 1);
            black_box(tree.consistency(j, LEAVES, &mut Synthetic).ok())
        })
    });
    g.bench_function("root_of_a_past_size", |b| b.iter(|| black_box(tree.root(LEAVES - 17, &mut Synthetic).ok())));
    g.finish();
    black_box(synthetic_leaf(0));
}

fn heads(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = AuditKey::load_or_create(dir.path(), true).expect("key");
    let mut g = c.benchmark_group("audit_heads");
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    g.bench_function("sign", |b| b.iter(|| black_box(key.sign(LEAVES, [3u8; 32], 1_700_000_000_000))));
    let head = key.sign(LEAVES, [3u8; 32], 1_700_000_000_000);
    g.bench_function("verify", |b| b.iter(|| black_box(head.verify(&head.key))));
    g.finish();
}

criterion_group!(benches, append, proofs, heads);
criterion_main!(benches);

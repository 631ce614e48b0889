#!/usr/bin/env bash
# The numbers of BENCHMARKS.md: the load generator at 100,000 and 1,000,000 runs (in-process and over
# HTTP), the disk's limit measured on the very log the in-process ingest wrote (raw durable append of
# its records, raw read-and-checksum), ingest with and without a reader tracing a 100,000-run lineage
# in a loop, then the criterion benchmarks, then the tables and one `SUMMARY key=value ...` line of
# ratios to compare across commits. Take them in one stretch; the load average is recorded around
# every step (target/bench-results/load.txt), since on a shared machine only ratios from one run
# compare.
#
#   benches/run.sh              # default: 100k and 1M runs, then criterion (about 10 minutes on 2 cores)
#   SCALES="10000" benches/run.sh            # a quick try
#   TEN_MILLION=1 benches/run.sh             # adds 10M runs in-process (about 5 more minutes, ~6 GB RAM)
#   CRITERION=0 benches/run.sh               # skip criterion
#   LINEAGE_RUNS=300000 benches/run.sh       # runs logged in the lineage-reader comparison (default 300k)
#   BIN_DIR=/tmp/old COMMIT=abc1234 OUT=/tmp/old-results benches/run.sh   # binaries built elsewhere
#
# Results: target/bench-results/*.json and summary.md (printed at the end).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/target/bench-results}
scales=${SCALES:-"100000 1000000"}
mkdir -p "$out"
rm -f "$out"/*.json
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mltrace-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Copies: a build started while this runs would replace target/release/* (and loadgen re-executes itself).
# BIN_DIR=dir takes loadgen and mltrace from there instead (say, the binaries of an earlier commit).
mkdir -p "$tmp/bin"
if [[ -n "${BIN_DIR:-}" ]]; then
  cp "$BIN_DIR/loadgen" "$BIN_DIR/mltrace" "$tmp/bin/"
else
  cargo build --release -q --workspace --bins
  cp target/release/loadgen target/release/mltrace "$tmp/bin/"
fi
loadgen=$tmp/bin/loadgen
server=$tmp/bin/mltrace
{ date -u +%FT%TZ; nproc; uptime; echo "${COMMIT:-$(git rev-parse --short HEAD)}"; git status --short --untracked-files=no; } \
  >"$out/machine.txt"
: >"$out/load.txt"
# Appends the 1-, 5- and 15-minute load averages with a label: `load before|after STEP`.
load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.txt"; }

for n in $scales; do
  echo "== in-process, $n runs, batches of 1,000, fsync always, 1 and 2 writers" >&2
  load "before inproc-$n-c1"
  $loadgen inproc --runs "$n" --batch 1000 --concurrency 1 --fsync always --tmp "$tmp" --no-queries --no-open \
    >"$out/inproc-$n-c1.json"
  load "before inproc-$n-c2 (with the limit)"
  $loadgen inproc --runs "$n" --batch 1000 --concurrency 2 --fsync always --tmp "$tmp" --limit >"$out/inproc-$n-c2.json"
  load "before http-$n-batch"
  echo "== HTTP, $n runs, batches of 1,000 over 4 connections" >&2
  $loadgen http --server "$server" --runs "$n" --batch 1000 --concurrency 4 --tmp "$tmp" >"$out/http-$n-batch.json"
done
load "before http-single"
echo "== HTTP, single-run POSTs over 64 connections" >&2
$loadgen http --server "$server" --runs 256000 --batch 1 --concurrency 64 --no-queries --tmp "$tmp" \
  >"$out/http-single.json"
load "before inproc-single"
echo "== in-process single runs, fsync always and never" >&2
$loadgen inproc --runs 100000 --batch 1 --concurrency 2 --fsync always --tmp "$tmp" --no-queries --no-open \
  >"$out/inproc-single-always.json"
$loadgen inproc --runs 100000 --batch 1 --concurrency 1 --fsync never --tmp "$tmp" --no-queries --no-open \
  >"$out/inproc-single-never.json"
lineage_runs=${LINEAGE_RUNS:-300000}
echo "== in-process, $lineage_runs runs after a 100,000-run chain, without and with a reader tracing it" >&2
load "before lineage-quiet"
$loadgen inproc --runs "$lineage_runs" --batch 1000 --concurrency 2 --fsync always --tmp "$tmp" --no-queries --no-open \
  --chain 100000 --chunk 10000 >"$out/lineage-quiet.json"
load "before lineage-reader"
$loadgen inproc --runs "$lineage_runs" --batch 1000 --concurrency 2 --fsync always --tmp "$tmp" --no-queries --no-open \
  --chain 100000 --chunk 10000 --trace-loop --max-ingest-seconds 60 >"$out/lineage-reader.json"
load "after lineage-reader"

if [[ "${TEN_MILLION:-0}" == 1 ]]; then
  echo "== in-process, 10,000,000 runs" >&2
  $loadgen inproc --runs 10000000 --batch 1000 --concurrency 2 --fsync always --tmp "$tmp" --query-seconds 5 \
    >"$out/inproc-10000000-c2.json"
fi

if [[ "${CRITERION:-1}" == 1 ]]; then
  echo "== criterion" >&2
  cargo bench -q --workspace --bench store 2>&1 | grep -E "^[a-z_]+/|time:|thrpt:" >"$out/criterion.txt" || true
fi

python3 benches/summarize.py "$out" | tee "$out/summary.md"
grep '^SUMMARY' "$out/summary.md" >"$out/summary.txt" || true

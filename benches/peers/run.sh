#!/usr/bin/env bash
# The comparison with the peers, side by side on the same workload:
#   - this mltrace (in-process, and over HTTP when target/release/mltrace exists),
#   - mltrace 0.17 from PyPI on a local PostgreSQL (Debian's package), started and stopped here,
#   - MLflow's tracking store on SQLite.
# Runs from a fresh Debian machine as root: installs PostgreSQL with apt-get, and mltrace 0.17 and
# MLflow into virtualenvs under a temporary directory. Every server listens on loopback only and is
# stopped on exit. Not part of CI: it takes about ten minutes (mltrace 0.17 logs ~10 runs/s).
#
#   benches/peers/run.sh                 # 2,000 runs, results in target/peers/
#   RUNS=500 benches/peers/run.sh        # quicker
#
# Environment: RUNS (2000), FLAGGED (RUNS/100), QUERIES (30 per kind), OUT (target/peers),
# KEEP_VENVS=DIR (reuse virtualenvs in DIR instead of installing into the temporary directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${RUNS:-2000}
flagged=${FLAGGED:-$((runs / 100))}
queries=${QUERIES:-30}
out=${OUT:-$root/target/peers}
work=$(mktemp -d /tmp/mltrace-peers.XXXXXX)
venvs=${KEEP_VENVS:-$work}
pgbin=""
pgdata=""

say() { printf '\n== %s\n' "$*" >&2; }

cleanup() {
  if [[ -n "$pgdata" && -f "$pgdata/postmaster.pid" ]]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

find_pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

say "PostgreSQL (Debian's package)"
pgbin=$(find_pgbin)
if [[ -z "$pgbin" || ! -x "$pgbin/postgres" ]]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pgbin=$(find_pgbin)
fi
"$pgbin/postgres" --version >&2

say "virtualenvs (mltrace==0.17, mlflow)"
if ! python3 -m venv --help >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
make_venv() { # dir, packages...
  local dir=$1; shift
  if [[ ! -x "$dir/bin/python" ]]; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
  fi
}
# mltrace 0.17 predates SQLAlchemy 2 and imports pandas and joblib without declaring them.
make_venv "$venvs/venv-mltrace" "mltrace==0.17" "sqlalchemy<2" pandas joblib
make_venv "$venvs/venv-mlflow" mlflow
"$venvs/venv-mlflow/bin/python" -c 'import mlflow; print("mlflow", mlflow.__version__)' >&2

say "loadgen (release) and the workload: $runs runs, $flagged flagged"
(cd "$root" && cargo build --release -q -p mltrace-benches --bin loadgen)
loadgen=$root/target/release/loadgen
"$loadgen" dump --runs "$runs" --flagged "$flagged" >"$work/workload.ndjson"
mkdir -p "$out"
rm -f "$out"/*.json

say "PostgreSQL on loopback"
pgdata=$work/pg
mkdir -p "$pgdata" "$work/pgsock" "$work/pglog"
chown postgres "$pgdata" "$work/pgsock" "$work/pglog"
chmod 755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -A trust -U postgres >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$work/pglog/postgres.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pgsock" start >/dev/null
runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres mltrace

say "mltrace 0.17 on PostgreSQL"
(cd "$here" && "$venvs/venv-mltrace/bin/python" mltrace_peer.py --db "postgresql://postgres@127.0.0.1:$port/mltrace" \
  --workload "$work/workload.ndjson" --out "$out/mltrace017.json" --queries "$queries")
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null

say "MLflow on SQLite"
(cd "$here" && "$venvs/venv-mlflow/bin/python" mlflow_peer.py --db "sqlite:///$work/mlflow.db" \
  --workload "$work/workload.ndjson" --out "$out/mlflow.json" --queries "$queries")

say "mltrace (this one)"
common=(--runs "$runs" --flagged "$flagged" --concurrency 1 --queries "$((queries * 10))")
"$loadgen" inproc "${common[@]}" --batch 1 --fsync always --tmp "$work" >"$out/mltrace-inproc-single.json"
"$loadgen" inproc "${common[@]}" --batch 1000 --fsync always --tmp "$work" >"$out/mltrace-inproc-batch.json"
if [[ -x "$root/target/release/mltrace" ]]; then
  "$loadgen" http "${common[@]}" --batch 1 --fsync always --server "$root/target/release/mltrace" --tmp "$work" \
    >"$out/mltrace-http-single.json"
fi

say "comparison"
python3 "$here/compare.py" "$out" | tee "$out/comparison.md"

#!/usr/bin/env bash
# Cluster-mode figures (BENCHMARKS.md, "Cluster mode"): three NATS JetStream servers on loopback
# and mltrace nodes on one stream, all on this machine; the release builds of mltrace and loadgen.
#   benches/cluster.sh                 # 200,000 runs per ingest scenario
#   RUNS=50000 benches/cluster.sh      # a quick try
#   ONLY_THREE_WRITERS=1 benches/cluster.sh   # only the three-writer scenarios
# Every scenario gets a fresh stream. Prints one line per figure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${RUNS:-200000}
SINGLE_RUNS=${SINGLE_RUNS:-20000}
cargo build --release --bin mltrace --bin loadgen >/dev/null
MLTRACE="$root/target/release/mltrace"
LOADGEN="$root/target/release/loadgen"
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

ports=(); routes=()
for i in 0 1 2; do ports+=("$(free_port)"); routes+=("$(free_port)"); done
route_list=$(printf '"nats-route://127.0.0.1:%s",' "${routes[@]}"); route_list=${route_list%,}
for i in 0 1 2; do
    cat > "$tmp/n$i.conf" <<CONF
server_name: n$i
host: 127.0.0.1
port: ${ports[$i]}
max_payload: 8MB
jetstream { store_dir: "$tmp/js$i" }
cluster { name: bench, listen: "127.0.0.1:${routes[$i]}", routes: [$route_list] }
CONF
    "$NATS" -c "$tmp/n$i.conf" > "$tmp/n$i.log" 2>&1 &
    pids+=($!)
    wait_port "${ports[$i]}"
done
LOG=$(printf 'nats://127.0.0.1:%s,' "${ports[@]}"); LOG=${LOG%,}
sleep 2   # the JetStream meta leader

# start_node NAME STREAM REPLICAS [serve options...] -> sets $addr
start_node() {
    local p name=$1 stream=$2 replicas=$3; shift 3
    p=$(free_port)
    "$MLTRACE" serve --addr "127.0.0.1:$p" --data-dir "$tmp/$name" --log "$LOG" --stream "$stream" \
        --replicas "$replicas" --fsync never "$@" > "$tmp/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 400); do curl -sf "http://127.0.0.1:$p/api/v1/health" >/dev/null && break; sleep 0.05; done
    addr="127.0.0.1:$p"
}
last_seq() { curl -s "http://$1/api/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])'; }
conflicts() { curl -s "http://$1/api/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster"]["conflicts"])'; }
rate() { python3 -c "import json,sys; r=json.load(open('$1')); print(round(r['ingest']['runs_per_s']))"; }

echo "load before: $(cat /proc/loadavg)"
for replicas in $([ "${ONLY_THREE_WRITERS:-0}" = 1 ] || echo 1 3); do
    start_node "r${replicas}b" "r${replicas}b" "$replicas"; a=$addr
    "$LOADGEN" http --addr "$a" --runs "$RUNS" --batch 1000 --concurrency 4 --no-queries > "$tmp/r${replicas}b.json"
    echo "replicas $replicas, batches of 1000, 1 writing node: $(rate "$tmp/r${replicas}b.json") runs/s"
    start_node "r${replicas}s" "r${replicas}s" "$replicas"; a=$addr
    "$LOADGEN" http --addr "$a" --runs "$SINGLE_RUNS" --batch 1 --concurrency 64 --no-queries > "$tmp/r${replicas}s.json"
    echo "replicas $replicas, single runs, 64 connections, 1 writing node: $(rate "$tmp/r${replicas}s.json") runs/s"
done

# writers N LABEL STREAM BATCH CONNS RUNS [serve options...]: a loadgen on each of N nodes, at once.
writers() {
    local n=$1 label=$2 stream=$3 batch=$4 conns=$5 runs=$6; shift 6
    local addrs=() i
    for i in $(seq "$n"); do start_node "$stream-$i" "$stream" 3 "$@"; addrs+=("$addr"); done
    # Every node must know who holds the writer's lease before the load starts.
    for _ in $(seq 200); do
        local seen
        seen=$(for a in "${addrs[@]}"; do curl -s "http://$a/api/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster"]["writer"])'; done | sort -u)
        [ "$seen" != "None" ] && [ "$(echo "$seen" | wc -l)" = 1 ] && break
        sleep 0.1
    done
    local t0 t1 loads=()
    t0=$(date +%s.%N)
    for i in $(seq "$n"); do
        "$LOADGEN" http --addr "${addrs[$((i - 1))]}" --runs $((runs / n)) --batch "$batch" --concurrency "$conns" \
            --no-queries --seed "$i" > "$tmp/$stream-$i.json" &
        loads+=($!)
    done
    wait "${loads[@]}"
    t1=$(date +%s.%N)
    local each="" total=0
    for i in $(seq "$n"); do
        each="$each $(rate "$tmp/$stream-$i.json")"
        total=$((total + $(conflicts "${addrs[$((i - 1))]}")))
    done
    echo "replicas 3, $label: $(python3 -c "print(round($runs / ($t1 - $t0)))") runs/s together (each loadgen saw:$each); conflicts $total"
}
if [ "${ONLY_THREE_WRITERS:-0}" != 1 ]; then
    writers 2 "batches of 1000, 2 writing nodes, writes forwarded to the lease holder" fwdb 1000 2 "$RUNS"
    writers 2 "batches of 1000, 2 writing nodes racing (--no-write-forwarding)" raceb 1000 2 "$RUNS" --no-write-forwarding
    writers 2 "single runs, 2 writing nodes x 32 connections, forwarded" fwds 1 32 "$SINGLE_RUNS"
    writers 2 "single runs, 2 writing nodes x 32 connections, racing" races 1 32 "$SINGLE_RUNS" --no-write-forwarding
fi
writers 3 "batches of 1000, 3 writing nodes, forwarded" fwdb3 1000 2 "$RUNS"
writers 3 "batches of 1000, 3 writing nodes racing" raceb3 1000 2 "$RUNS" --no-write-forwarding
if [ "${ONLY_THREE_WRITERS:-0}" = 1 ]; then
    echo "load after: $(cat /proc/loadavg)"
    exit 0
fi

# Catch-up: a new node on the stream of the first replicas-3 batch ingest.
start=$(date +%s.%N)
start_node fresh r3b 3; c=$addr
want=$(curl -s "http://$c/api/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster"]["stream_last_seq"] or 0)')
while [ "$want" = "0" ]; do sleep 0.2; want=$(curl -s "http://$c/api/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster"]["stream_last_seq"] or 0)'); done
first=""; first_seq=0
while true; do
    now_seq=$(last_seq "$c")
    if [ -z "$first" ] && [ "$now_seq" -gt 0 ]; then first=$(date +%s.%N); first_seq=$now_seq; fi
    [ "$now_seq" -ge "$want" ] && break
    sleep 0.02
done
end=$(date +%s.%N)
echo "catch-up of a new node: $want events in $(python3 -c "print(round($end - $start, 2))") s with its start: $(python3 -c "print(round($want / ($end - $start)))") events/s; from its first applied batch: $(python3 -c "print(round(($want - $first_seq) / max($end - $first, 1e-3)))") events/s"
echo "load after: $(cat /proc/loadavg)"

#!/usr/bin/env bash
# Generated hostile input against the real server, from its own OpenAPI document (schemathesis):
# no request may get a 5xx, and every answer must match the documented status codes, content types
# and schemas. Short by default (a fixed seed, a few examples per operation: about a minute);
# MLTRACE_LONG_TESTS=1 runs 500 random examples per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MLTRACE_BIN:-target/debug/mltrace}
if [ "${MLTRACE_LONG_TESTS:-}" = 1 ]; then
    limits=(-n 500)
else
    limits=(-n 15 --seed 20261129)
fi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --addr "127.0.0.1:$port" --data-dir "$work/data" --demo >"$work/server.log" 2>&1 &
pid=$!
# The server checkpoints as it stops: wait for it before removing its directory.
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work" || true' EXIT
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null && break
    sleep 0.1
done
# The event stream with follow=true never ends by design, so it is left out (its errors are
# covered by the end-to-end tests).
# pip may put `st` where PATH does not look yet (a fresh pyenv before its rehash): ask Python.
st=$(command -v st || true)
[ -n "$st" ] || st="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/st"
"$st" run "http://127.0.0.1:$port/api/v1/openapi.json" --url "http://127.0.0.1:$port" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --exclude-path /api/v1/events "${limits[@]}"
if ! kill -0 "$pid" 2>/dev/null; then
    echo "the server died during the run:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
if grep -q "panicked" "$work/server.log"; then
    echo "the server panicked during the run:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

#!/usr/bin/env bash
# Runs every test of the project: Rust (unit, property, crash, end-to-end), Python client, and the
# web UI in headless Chromium. Installs what a fresh machine lacks first (Debian's chromium,
# openssl, make and nats-server, the ui-tests npm packages, the Python test packages, maturin and
# cargo-fuzz), so this one command works anywhere we run. The Rust tests run under cargo-nextest when it is
# installed, else under cargo test.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

install_prereqs() {
    local missing=()
    if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
        missing+=(chromium)     # the UI tests
    fi
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)   # certificates for the HTTPS tests
    command -v make >/dev/null 2>&1 || missing+=(make)         # builds jemalloc, the binaries' allocator
    # The cluster tests run three JetStream servers on loopback.
    [ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]} (Debian)"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! python3 -c "import schemathesis" >/dev/null 2>&1; then
        say "installing schemathesis (PyPI) for the generated hostile-input tests"
        python3 -m pip install --quiet --disable-pip-version-check schemathesis
    fi
    if ! python3 -c 'import openlineage.client, jsonschema, referencing' >/dev/null 2>&1; then
        # The OpenLineage tests drive the real openlineage-python client and validate our export
        # against the vendored OpenLineage JSON schema with jsonschema.
        say "installing openlineage-python and jsonschema (pip, user site)"
        python3 -m pip install --user --quiet openlineage-python jsonschema \
            || python3 -m pip install --user --quiet --break-system-packages openlineage-python jsonschema
    fi
    if ! python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' >/dev/null 2>&1; then
        # The independent audit verifier (clients/python/tools) checks Ed25519 signatures with it.
        # From PyPI, for the python3 that runs the tests (Debian's package serves only Debian's).
        say "installing cryptography (PyPI) for the audit verifier's tests"
        python3 -m pip install --quiet --disable-pip-version-check cryptography
    fi
    if ! python3 -c 'import maturin' >/dev/null 2>&1; then
        say "installing maturin (PyPI) to build the Python package"
        python3 -m pip install --quiet "maturin>=1.5,<2"
    fi
    if [ ! -d ui-tests/node_modules/playwright-core ] || [ ! -d ui-tests/node_modules/axe-core ]; then
        say "installing the UI test packages (npm ci)"
        (cd ui-tests && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

install_prereqs

say "building (debug, whole workspace)"
cargo build --workspace --all-targets

say "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
    cargo test --workspace --doc
else
    cargo test --workspace --no-fail-fast
fi

export MLTRACE_BIN="$root/target/debug/mltrace"

say "the HTTP end-to-end suite against a cluster node (serve --log on one JetStream server)"
# Each server of the suite gets a stream of its own on this NATS server (tests/src/lib.rs). The
# full-disk test is left out: in cluster mode a write the stream took stays written even when the
# node's own disk then refuses it (docs/cluster.md), which is what that test checks against.
nats_dir=$(mktemp -d)
nats_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'host: 127.0.0.1\nport: %s\nmax_payload: 64MB\njetstream { store_dir: "%s" }\n' \
    "$nats_port" "$nats_dir/js" > "$nats_dir/nats.conf"
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
"$nats_server" -c "$nats_dir/nats.conf" > "$nats_dir/log" 2>&1 &
nats_pid=$!
for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
    sleep 0.1
done
if cargo nextest --version >/dev/null 2>&1; then
    MLTRACE_TEST_LOG="nats://127.0.0.1:$nats_port" cargo nextest run --workspace --test e2e --no-fail-fast \
        -E 'not test(a_full_disk_refuses_writes)' || { kill "$nats_pid"; exit 1; }
else
    MLTRACE_TEST_LOG="nats://127.0.0.1:$nats_port" cargo test --workspace --test e2e --no-fail-fast -- \
        --skip a_full_disk_refuses_writes || { kill "$nats_pid"; exit 1; }
fi
kill "$nats_pid"
rm -rf "$nats_dir"

say "Python package (editable install: the extension is built in debug, like the rest)"
# Editable: the tests import the package from clients/python/src, where maturin puts the extension.
MATURIN_PEP517_ARGS="--profile dev" python3 -m pip install --quiet --no-build-isolation -e ./clients/python

say "Python client tests against a server"
MLTRACE_TEST_MODE=server python3 -m unittest discover -s clients/python/tests -t clients/python

say "Python client tests against the embedded store"
MLTRACE_TEST_MODE=embedded python3 -m unittest discover -s clients/python/tests -t clients/python

say "fuzzing the decoders and parsers (cargo-fuzz, from the kept corpus)"
fuzz/run.sh

say "generated hostile input against the OpenAPI document (schemathesis)"
tests/schemathesis.sh

say "web UI tests (headless Chromium, against the release build users run)"
# The UI tests check that every page answers within a second at 20,000 runs: a promise about the
# server people deploy, so they run the release binary.
cargo build --release --bin mltrace
(cd ui-tests && MLTRACE_BIN="$root/target/release/mltrace" npm test)

say "all tests passed"

#!/usr/bin/env bash
# Runs every test of the project: Rust (unit, property, crash, end-to-end), Python client, and the
# web UI in headless Chromium. Installs what a fresh machine lacks first (Debian's chromium, the
# ui-tests npm packages, cargo-nextest when missing), so this one command works anywhere we run.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

install_prereqs() {
    if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
        say "installing chromium (Debian) for the UI tests"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    fi
    if ! python3 -c 'import maturin' >/dev/null 2>&1; then
        say "installing maturin (PyPI) to build the Python package"
        python3 -m pip install --quiet "maturin>=1.5,<2"
    fi
    if [ ! -d ui-tests/node_modules/playwright-core ]; then
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

say "Python package (editable install: the extension is built in debug, like the rest)"
# Editable: the tests import the package from clients/python/src, where maturin puts the extension.
MATURIN_PEP517_ARGS="--profile dev" python3 -m pip install --quiet --no-build-isolation -e ./clients/python

say "Python client tests against a server"
MLTRACE_TEST_MODE=server python3 -m unittest discover -s clients/python/tests -t clients/python

say "Python client tests against the embedded store"
MLTRACE_TEST_MODE=embedded python3 -m unittest discover -s clients/python/tests -t clients/python

say "web UI tests (headless Chromium)"
(cd ui-tests && npm test)

say "all tests passed"

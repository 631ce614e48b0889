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

say "Python client tests"
python3 -m unittest discover -s clients/python/tests -t clients/python

say "web UI tests (headless Chromium)"
(cd ui-tests && npm test)

say "all tests passed"

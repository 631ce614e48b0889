#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of what mltrace reads from disk and from clients:
# record frames and payloads, a whole segment through recovery and verify, the run JSON parsers
# (reading the bytes and reading the parsed value agree), and the OpenLineage parser.
#
# CI: 10 s a target from the corpus kept in fuzz/corpus. MLTRACE_LONG_TESTS=1: 10 minutes a target
# (MLTRACE_FUZZ_SECONDS overrides). A crash leaves its input in fuzz/artifacts/TARGET/ and fails.
#
# cargo-fuzz drives libFuzzer through rustc flags that stable Rust accepts with RUSTC_BOOTSTRAP=1;
# without a sanitizer (`--sanitizer none`) the runtime needs nothing beyond the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz (crates.io)"
    cargo install --quiet --locked cargo-fuzz
fi
seconds=${MLTRACE_FUZZ_SECONDS:-10}
[ "${MLTRACE_LONG_TESTS:-}" = 1 ] && seconds=${MLTRACE_FUZZ_SECONDS:-600}
export RUSTC_BOOTSTRAP=1
cargo fuzz build --sanitizer none -O
for target in record segment run_json openlineage; do
    echo "fuzzing $target for ${seconds}s"
    # New inputs go to a scratch copy, so a CI run leaves the kept corpus as it is.
    scratch=$(mktemp -d)
    cp -r "corpus/$target/." "$scratch/"
    status=0
    cargo fuzz run --sanitizer none -O "$target" "$scratch" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$scratch.log" 2>&1 || status=$?
    grep -E "^(Done|==|ERROR|SUMMARY|thread .* panicked)" "$scratch.log" || true
    [ "$status" -eq 0 ] || tail -40 "$scratch.log" >&2
    rm -f "$scratch.log"
    rm -rf "$scratch"
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $target failed; its input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done

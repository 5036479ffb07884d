#!/usr/bin/env bash
# Runs every libFuzzer target in build/fuzz/fuzzers/ for FUZZ_SECONDS (default 10) each,
# seeded from tests/fuzz/corpus/<target>/ (read only: new inputs go to build/fuzz/work/).
# A crash, leak or sanitizer report fails the run; the input is left in
# build/fuzz/artifacts/ - copy it into the target's corpus once fixed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
secs="${FUZZ_SECONDS:-10}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1"
mkdir -p build/fuzz/artifacts
status=0
for bin in build/fuzz/fuzzers/fuzz_*; do
    [[ -x "$bin" && "$bin" != *.d ]] || continue
    t="$(basename "$bin")"
    name="${t#fuzz_}"
    work="build/fuzz/work/$name"
    mkdir -p "$work"
    log="build/fuzz/$name.log"
    if "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$name-" \
        "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
        execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
        echo "fuzz $name: ok, $execs executions in ${secs}s"
    else
        echo "fuzz $name: FAILED (see $log):"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20
        status=1
    fi
done
exit "$status"

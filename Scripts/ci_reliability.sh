#!/usr/bin/env bash
# The CI subset of the reliability checks (Docs/RELIABILITY.md): build every libFuzzer target, then run
# each for SECONDS (default 30), JOBS at a time (default 2). Fails on any crash, leak, sanitizer report or
# timeout; the reproducer is left in Fuzz/.build/artifacts/TARGET/.
#
#   Scripts/ci_reliability.sh [SECONDS] [JOBS]
#
# The sanitizer test runs are Scripts/sanitize.sh; .ci/run calls both.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
jobs=${2:-2}
mapfile -t targets < <(Scripts/fuzz.sh list)
logs=Fuzz/.build/ci-logs
mkdir -p "$logs"
start=$SECONDS

# Tensor first (shared by every target but Arguments), then Config, which also builds the LanguageModel parser
# library that ICLTask links (two parallel builds of it would race), then the other harnesses JOBS at a time.
Scripts/fuzz.sh Safetensors build || exit 1
Scripts/fuzz.sh Config build || exit 1
running=0
for t in "${targets[@]}"; do
    Scripts/fuzz.sh "$t" build > "$logs/$t.build.log" 2>&1 &
    running=$((running + 1))
    if (( running >= jobs )); then wait -n || true; running=$((running - 1)); fi
done
wait
for t in "${targets[@]}"; do
    [[ -x Fuzz/.build/fuzz-$t ]] || { cat "$logs/$t.build.log"; echo "ci_reliability: $t did not build" >&2; exit 1; }
done
built=$SECONDS
echo "ci_reliability: built ${#targets[@]} targets in $((built - start)) s" >&2

declare -A pids=()
failed=()
for t in "${targets[@]}"; do
    Scripts/fuzz.sh "$t" "$seconds" > "$logs/$t.log" 2>&1 &
    pids[$t]=$!
    while (( $(jobs -rp | wc -l) >= jobs )); do sleep 1; done
done
for t in "${targets[@]}"; do
    if wait "${pids[$t]}"; then
        stats=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$logs/$t.log" | tail -1)
        echo "ci_reliability: $t ok: ${stats:-done}" >&2
    else
        failed+=("$t")
        echo "ci_reliability: $t FAILED:" >&2
        grep -E "ERROR|SUMMARY|Fatal error|precondition|deadly|Test unit written" "$logs/$t.log" | head -20 >&2
    fi
done
echo "ci_reliability: fuzzed ${#targets[@]} targets × ${seconds} s in $((SECONDS - built)) s (total $((SECONDS - start)) s)" >&2
(( ${#failed[@]} == 0 )) || { echo "ci_reliability: failed: ${failed[*]}" >&2; exit 1; }

#!/usr/bin/env bash
# Interleaved Swift-vs-PyTorch OPT timings: on a shared machine the load changes from minute to minute, so
# alternating one round of each side ROUNDS times gives both the same chances; the summary keeps each side's
# best round. Usage (from the repository root, after `swift build -c release` and the .venv-bench setup in
# Scripts/bench_torch.py):
#   Scripts/compare_opt.sh [THREADS] [ROUNDS] [OUT_DIR]        e.g. Scripts/compare_opt.sh 2 3 /tmp/compare-opt
set -euo pipefail
THREADS=${1:-2}
ROUNDS=${2:-3}
OUT=${3:-/tmp/compare-opt}
PY=${PYTHON:-.venv-bench/bin/python}
mkdir -p "$OUT"
for i in $(seq 1 "$ROUNDS"); do
  .build/release/Bench opt --threads "$THREADS" --rounds 1 --calls 2 --json "$OUT/swift-$i.json" >/dev/null 2>&1
  "$PY" Scripts/bench_torch.py opt --threads "$THREADS" --rounds 1 --calls 2 --json "$OUT/torch-$i.json" >/dev/null 2>&1
  echo "round $i done" >&2
done
"$PY" - "$OUT" "$ROUNDS" <<'EOF'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
best = {}
for i in range(1, rounds + 1):
    for r in json.load(open(f"{out}/swift-{i}.json"))["results"]:
        k = (r["caseName"], r["threads"]); best.setdefault(k, [float("inf"), float("inf")])
        best[k][0] = min(best[k][0], r["bestMs"])
    for r in json.load(open(f"{out}/torch-{i}.json"))["results"]:
        k = (r["case"], r["threads"]); best.setdefault(k, [float("inf"), float("inf")])
        best[k][1] = min(best[k][1], r["best_ms"])
print(f"{'case':<26}{'threads':>8}{'swift ms':>10}{'torch ms':>10}{'ratio':>7}")
for (case, t), (s, p) in best.items():
    print(f"{case:<26}{t:>8}{s:>10.1f}{p:>10.1f}{s / p:>7.2f}")
EOF

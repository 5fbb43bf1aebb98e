#!/usr/bin/env bash
# Interleaved Swift-vs-PyTorch timings of one model family (`Bench lm --family F` against `bench_torch.py lm
# --family F`): on a shared machine the load changes from minute to minute, so alternating one round of each side
# ROUNDS times gives both the same chances. Each round is one fresh process per side (one warm-up call, then the
# fastest of 2 calls per case); the summary gives each side's best and median round and the ratios Swift/PyTorch.
# Usage (from the repository root, after `swift build -c release --product Bench` and the .venv-bench setup in
# Scripts/bench_torch.py; PYTHON overrides the interpreter):
#   Scripts/compare_lm.sh FAMILY [THREADS] [ROUNDS] [OUT_DIR]     e.g. Scripts/compare_lm.sh gpt2 2 3 /tmp/compare-gpt2
# FAMILY: opt | gpt2 | llama. Writes OUT_DIR/{swift,torch}-N.json and OUT_DIR/summary.json.
set -euo pipefail
FAMILY=${1:?usage: Scripts/compare_lm.sh opt|gpt2|llama [THREADS] [ROUNDS] [OUT_DIR]}
THREADS=${2:-2}
ROUNDS=${3:-3}
OUT=${4:-/tmp/compare-$FAMILY}
PY=${PYTHON:-.venv-bench/bin/python}
mkdir -p "$OUT"
for i in $(seq 1 "$ROUNDS"); do
  .build/release/Bench lm --family "$FAMILY" --threads "$THREADS" --rounds 1 --calls 2 --json "$OUT/swift-$i.json" >/dev/null 2>&1
  "$PY" Scripts/bench_torch.py lm --family "$FAMILY" --threads "$THREADS" --rounds 1 --calls 2 --json "$OUT/torch-$i.json" >/dev/null 2>&1
  echo "$FAMILY round $i done" >&2
done
"$PY" - "$OUT" "$ROUNDS" "$FAMILY" <<'PYEOF'
import json, statistics, sys
out, rounds, family = sys.argv[1], int(sys.argv[2]), sys.argv[3]
swift, torch, meta = {}, {}, {}
for i in range(1, rounds + 1):
    s = json.load(open(f"{out}/swift-{i}.json"))
    t = json.load(open(f"{out}/torch-{i}.json"))
    meta = {"config": s["config"], "machine": s["machine"], "torch": t["framework"] + ", attention " + t["attention"],
            "torch_model": t.get("model")}
    for r in s["results"]:
        swift.setdefault((r["caseName"], r["threads"]), []).append(r["bestMs"])
    for r in t["results"]:
        torch.setdefault((r["case"], r["threads"]), []).append(r["best_ms"])
rows = []
print(f"{family}: {meta['config']}; {meta['torch']}")
print(f"{'case':<26}{'thr':>4}{'swift best':>11}{'swift med':>10}{'torch best':>11}{'torch med':>10}{'ratio best':>11}{'ratio med':>10}")
for k in swift:
    s, t = swift[k], torch[k]
    row = {"case": k[0], "threads": k[1], "swift_best_ms": min(s), "swift_median_ms": statistics.median(s),
           "torch_best_ms": min(t), "torch_median_ms": statistics.median(t), "swift_rounds_ms": s, "torch_rounds_ms": t}
    row["ratio_best"] = row["swift_best_ms"] / row["torch_best_ms"]
    row["ratio_median"] = row["swift_median_ms"] / row["torch_median_ms"]
    rows.append(row)
    print(f"{k[0]:<26}{k[1]:>4}{min(s):>11.1f}{row['swift_median_ms']:>10.1f}{min(t):>11.1f}{row['torch_median_ms']:>10.1f}"
          f"{row['ratio_best']:>11.2f}{row['ratio_median']:>10.2f}")
json.dump({"bench": "compare_lm", "family": family, "rounds": rounds, **meta, "results": rows},
          open(f"{out}/summary.json", "w"), indent=2, sort_keys=True)
PYEOF

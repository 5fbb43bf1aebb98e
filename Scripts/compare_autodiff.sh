#!/usr/bin/env bash
# Swift Autodiff (Bench autodiff) against PyTorch CPU (Scripts/bench_torch.py) on the same workloads, interleaved
# round by round so the shared machine's noise hits both alike (the order alternates between rounds). Each round
# measures 1 and 2 threads (same thread counts on both sides). Prints the median over rounds of forward,
# forward+backward and their ratio for both, and Swift/PyTorch time ratios (< 1: Swift is faster).
#
# usage: Scripts/compare_autodiff.sh [--rounds N] [--threads 1,2] [--what block,model] [--min-time S]
#                                    [--attention sdpa|manual] [--json FILE] [--quick] [--cpu-time]
# --cpu-time (implies --threads 1) times both sides with the calling thread's CPU clock, which leaves out the
# time the thread was descheduled: the per-core comparison that survives a loaded machine.
# PyTorch runs in .venv-bench (torch==2.13.0+cpu is installed there if missing; never the CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
THREADS=1,2
WHAT=block,model
MINTIME=1
ATTN=sdpa
TOKENS=512
JSON=""
CPUTIME=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --what) WHAT=$2; shift 2 ;;
    --min-time) MINTIME=$2; shift 2 ;;
    --attention) ATTN=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --quick) ROUNDS=1; MINTIME=0; TOKENS=128; shift ;;
    --cpu-time) CPUTIME=--cpu-time; THREADS=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

PY=.venv-bench/bin/python
if ! "$PY" -c "import torch" 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q 'torch==2.13.0+cpu'
fi
swift build -c release --product Bench >&2
BENCH=.build/release/Bench
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

run_swift() { "$BENCH" autodiff --what "$WHAT" --threads "$THREADS" --rounds 1 --min-time "$MINTIME" --tokens "$TOKENS" $CPUTIME --json "$OUT/swift-$1.json" >/dev/null; }
run_torch() { "$PY" Scripts/bench_torch.py --what "$WHAT" --threads "$THREADS" --rounds 1 --min-time "$MINTIME" --tokens "$TOKENS" --attention "$ATTN" $CPUTIME --json "$OUT/torch-$1.json" >/dev/null; }

for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then run_swift "$r"; run_torch "$r"; else run_torch "$r"; run_swift "$r"; fi
  echo "round $r/$ROUNDS done" >&2
done

python3 - "$OUT" "$ROUNDS" "$JSON" "$ATTN" "$TOKENS" <<'PYEOF'
import glob, json, statistics, sys
out, rounds, jpath, attn, tokens = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
def load(side):
    acc, meta = {}, None
    for f in sorted(glob.glob(f"{out}/{side}-*.json")):
        d = json.load(open(f))
        meta = d
        for r in d["results"]:
            acc.setdefault((r["what"], r["threads"]), []).append(r)
    return acc, meta
sw, swm = load("swift")
th, thm = load("torch")
med = lambda rs, k: statistics.median(r[k] for r in rs)
clock = "thread CPU time" if swm.get("cpuTime") else "wall time"
print(f"Autodiff (Swift, Float) vs PyTorch {thm['torch']} CPU fp32 (attention: {attn}), T={tokens}, {rounds} interleaved round(s), medians, {clock}")
print(f"machine: {swm['machine']['cpu']}, {swm['machine']['cores']} cores; {swm['machine']['build']}; {swm['machine']['date']}")
print(f"{'what':<7}{'thr':>4}{'Swift fwd':>11}{'fwd+bwd':>9}{'ratio':>7}{'Torch fwd':>11}{'fwd+bwd':>9}{'ratio':>7}{'S/T fwd':>9}{'S/T f+b':>9}")
rows = []
for key in sorted(sw):
    if key not in th:
        continue
    a, b = sw[key], th[key]
    row = dict(what=key[0], threads=key[1],
               swiftForwardMs=med(a, "forwardMs"), swiftForwardBackwardMs=med(a, "forwardBackwardMs"),
               torchForwardMs=med(b, "forwardMs"), torchForwardBackwardMs=med(b, "forwardBackwardMs"),
               swiftRounds=[[r["forwardMs"], r["forwardTapeMs"], r["forwardBackwardMs"]] for r in a],
               torchRounds=[[r["forwardMs"], r["forwardTapeMs"], r["forwardBackwardMs"]] for r in b])
    row["swiftRatio"] = row["swiftForwardBackwardMs"] / row["swiftForwardMs"]
    row["torchRatio"] = row["torchForwardBackwardMs"] / row["torchForwardMs"]
    row["forwardVsTorch"] = row["swiftForwardMs"] / row["torchForwardMs"]
    row["forwardBackwardVsTorch"] = row["swiftForwardBackwardMs"] / row["torchForwardBackwardMs"]
    rows.append(row)
    print(f"{key[0]:<7}{key[1]:>4}{row['swiftForwardMs']:>11.1f}{row['swiftForwardBackwardMs']:>9.1f}{row['swiftRatio']:>7.2f}"
          f"{row['torchForwardMs']:>11.1f}{row['torchForwardBackwardMs']:>9.1f}{row['torchRatio']:>7.2f}"
          f"{row['forwardVsTorch']:>9.2f}{row['forwardBackwardVsTorch']:>9.2f}")
if jpath:
    json.dump(dict(bench="compare-autodiff", machine=swm["machine"], torch=thm["torch"], cpuTime=bool(swm.get("cpuTime")), attention=attn, tokens=tokens,
                   rounds=rounds, results=rows), open(jpath, "w"), indent=2)
    print(f"wrote {jpath}")
PYEOF

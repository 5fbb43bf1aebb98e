#!/usr/bin/env bash
# Swift GEMM (Bench gemm) against numpy/OpenBLAS (Scripts/bench_blas.py), interleaved shape by shape so the
# shared machine's noise hits both alike: for each round, for each shape, one Swift round then one OpenBLAS round
# (the order alternates between rounds), each measuring 1 and 2 threads. Prints best and median GFLOP/s over the
# rounds for both and the Swift/OpenBLAS ratio.
#
# usage: Scripts/compare_gemm.sh [--rounds N] [--threads 1,2] [--shapes MxKxN,...] [--min-time S] [--json FILE] [--quick]
#                                [--cpu-time]
# --cpu-time: one thread only, both sides timed with the calling thread's CPU-time clock, which leaves out the time
# the thread was descheduled; on a loaded machine this compares per-core speed where wall time cannot.
# The OpenBLAS side runs in .venv-bench (created with pinned numpy/threadpoolctl if missing), with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command only (see Scripts/bench_blas.py).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
THREADS=1,2
SHAPES=256x256x256,512x512x512,1024x1024x1024,2048x2048x2048,512x768x768,512x768x3072,512x3072x768,512x768x50272
MINTIME=0.4
JSON=""
CPUTIME=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --shapes) SHAPES=$2; shift 2 ;;
    --min-time) MINTIME=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --cpu-time) CPUTIME=--cpu-time; THREADS=1; shift ;;
    --quick) ROUNDS=1; MINTIME=0.05; SHAPES=256x256x256,512x512x512,512x768x768; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

PY=.venv-bench/bin/python
if [ ! -x "$PY" ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q numpy==2.4.6 threadpoolctl==3.8.0
fi
swift build -c release --product Bench >&2
BENCH=.build/release/Bench
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

run_swift() { "$BENCH" gemm --no-naive --shapes "$1" --threads "$THREADS" --rounds 1 --min-time "$MINTIME" $CPUTIME --json "$OUT/swift-$1-$2.json" >/dev/null; }
run_blas() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" Scripts/bench_blas.py --shapes "$1" --threads "$THREADS" --rounds 1 --min-time "$MINTIME" $CPUTIME --json "$OUT/blas-$1-$2.json" >/dev/null; }

for r in $(seq 1 "$ROUNDS"); do
  for s in ${SHAPES//,/ }; do
    if [ $((r % 2)) -eq 1 ]; then run_swift "$s" "$r"; run_blas "$s" "$r"; else run_blas "$s" "$r"; run_swift "$s" "$r"; fi
    echo "round $r/$ROUNDS: $s done" >&2
  done
done

python3 - "$OUT" "$SHAPES" "$ROUNDS" "$JSON" "$MINTIME" "$CPUTIME" <<'PYEOF'
import glob, json, statistics, sys
out, shapes, rounds, jpath, mintime = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4], sys.argv[5]
cputime = sys.argv[6] == "--cpu-time"
def load(side):
    acc, meta = {}, None
    for f in sorted(glob.glob(f"{out}/{side}-*.json")):
        d = json.load(open(f))
        meta = d
        for r in d["results"]:
            acc.setdefault((r["m"], r["k"], r["n"], r["threads"]), []).extend(r["roundGFlops"])
    return acc, meta
sw, swm = load("swift")
bl, blm = load("blas")
print(f"GEMM fp32, Swift (Bench gemm) vs numpy {blm['numpy']} / OpenBLAS {blm['openblas'].get('version')} "
      f"(kernel {blm['openblas'].get('architecture')}), {rounds} interleaved round(s), round = fastest call of >= 5 calls and >= {mintime} s")
if cputime:
    print("timing: each side's calling-thread CPU time (1 thread; descheduled time excluded)")
print(f"machine: {swm['machine']['cpu']}, {swm['machine']['cores']} cores; Swift kernel: {swm['kernel']}; {swm['machine']['date']}")
hdr = f"{'shape M×K·K×N':<20}{'thr':>4}{'Swift best':>12}{'OpenBLAS best':>15}{'ratio':>7}{'Swift med':>11}{'OpenBLAS med':>14}{'ratio':>7}"
print(hdr)
rows = []
for s in shapes:
    m, k, n = (int(x) for x in s.split("x"))
    for t in sorted({key[3] for key in sw if key[:3] == (m, k, n)}):
        a, b = sw.get((m, k, n, t), []), bl.get((m, k, n, t), [])
        if not a or not b:
            continue
        row = dict(m=m, k=k, n=n, threads=t, swiftBest=max(a), swiftMedian=statistics.median(a),
                   blasBest=max(b), blasMedian=statistics.median(b), swiftRounds=a, blasRounds=b)
        row["ratioBest"] = row["swiftBest"] / row["blasBest"]
        row["ratioMedian"] = row["swiftMedian"] / row["blasMedian"]
        rows.append(row)
        print(f"{f'{m}x{k}·{k}x{n}':<20}{t:>4}{row['swiftBest']:>12.1f}{row['blasBest']:>15.1f}{row['ratioBest']:>7.2f}"
              f"{row['swiftMedian']:>11.1f}{row['blasMedian']:>14.1f}{row['ratioMedian']:>7.2f}")
if jpath:
    json.dump(dict(bench="compare-gemm", cpuTime=cputime, swiftMachine=swm["machine"], swiftKernel=swm["kernel"],
                   openblas=blm["openblas"], numpy=blm["numpy"], rounds=rounds, minSeconds=float(mintime), results=rows),
              open(jpath, "w"), indent=2)
    print(f"wrote {jpath}")
PYEOF

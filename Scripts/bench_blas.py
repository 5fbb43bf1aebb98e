#!/usr/bin/env python3
"""Times numpy's OpenBLAS float32 matmul at the shapes of `Bench gemm`, with the same methodology.

Pinned (install into a venv the repo ignores):
    python3 -m venv .venv-bench && .venv-bench/bin/pip install numpy==2.4.6 threadpoolctl==3.8.0
    (numpy 2.4.6 bundles OpenBLAS 0.3.31 as scipy-openblas; Python 3.11)

A round is the fastest call of >= 5 calls taking >= --min-time seconds; we report the best and the median
round over --rounds rounds. C = A·B into a preallocated C (np.matmul(..., out=c)), row-major float32.

This machine's environment sets OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) to work around old OpenBLAS builds;
they force a slower kernel on a current numpy, so this script removes both from its own environment before
numpy loads (pass --keep-coretype to keep them) and prints the kernel OpenBLAS really uses (threadpoolctl).
"""
import argparse
import json
import os
import statistics
import sys
import time

DEFAULT_SHAPES = "256x256x256,512x512x512,1024x1024x1024,2048x2048x2048,512x768x768,512x768x3072,512x3072x768,512x768x50272"
QUICK_SHAPES = "256x256x256,512x512x512,512x768x768"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--shapes", default=None, help="comma-separated MxKxN (M×K times K×N)")
    p.add_argument("--min-time", type=float, default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--keep-coretype", action="store_true")
    p.add_argument("--cpu-time", action="store_true",
                   help="time with the calling thread's CPU time (1 thread only), as Bench gemm --cpu-time")
    args = p.parse_args()

    removed = {}
    if not args.keep_coretype:
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if var in os.environ:
                removed[var] = os.environ.pop(var)
    import numpy as np  # noqa: E402  (after the environment is fixed)
    import threadpoolctl  # noqa: E402

    rounds = args.rounds or (1 if args.quick else 3)
    min_time = args.min_time if args.min_time is not None else (0.05 if args.quick else 0.4)
    min_calls = 2 if args.quick else 5
    threads = [int(t) for t in args.threads.split(",")]
    if args.cpu_time and threads != [1]:
        p.error("--cpu-time needs --threads 1")
    clock = time.thread_time if args.cpu_time else time.perf_counter
    shapes = [tuple(int(x) for x in s.lower().split("x")) for s in (args.shapes or (QUICK_SHAPES if args.quick else DEFAULT_SHAPES)).split(",")]

    info = [i for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
    blas = info[0] if info else {}
    print(f"bench_blas — numpy {np.__version__}, threadpoolctl {threadpoolctl.__version__}, "
          f"OpenBLAS {blas.get('version')} kernel/coretype {blas.get('architecture')}, "
          f"threading {blas.get('threading_layer')}; removed from env: {removed or 'nothing'}")
    if args.cpu_time:
        print("timing: calling thread's CPU time (descheduled time excluded)")
    print(f"best / median over {rounds} round(s); a round = fastest call of >= {min_calls} calls and >= {min_time} s")
    print(f"{'shape M×K·K×N':<20}{'thr':>4}{'best GF/s':>11}{'median GF/s':>13}{'median ms':>11}")

    rng = np.random.default_rng(42)
    results = []
    for (m, k, n) in shapes:
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        c = np.empty((m, n), dtype=np.float32)
        flops = 2.0 * m * k * n
        times = {t: [] for t in threads}
        calls = {t: [] for t in threads}
        for _ in range(rounds):
            for t in threads:  # 1 and 2 threads alternate, as in Bench gemm
                with threadpoolctl.threadpool_limits(limits=t, user_api="blas"):
                    best, count, start = float("inf"), 0, clock()
                    while True:
                        t0 = clock()
                        np.matmul(a, b, out=c)
                        best = min(best, clock() - t0)
                        count += 1
                        total = clock() - start
                        if (count >= min_calls and total >= min_time) or total >= 30:
                            break
                times[t].append(best)
                calls[t].append(count)
        for t in threads:
            gf = [flops / x / 1e9 for x in times[t]]
            r = dict(m=m, k=k, n=n, threads=t, bestGFlops=max(gf), medianGFlops=statistics.median(gf),
                     medianMs=statistics.median(times[t]) * 1e3, roundGFlops=gf, callsPerRound=calls[t])
            results.append(r)
            print(f"{f'{m}x{k}·{k}x{n}':<20}{t:>4}{r['bestGFlops']:>11.1f}{r['medianGFlops']:>13.1f}{r['medianMs']:>11.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(bench="gemm-openblas", cpuTime=args.cpu_time, numpy=np.__version__, threadpoolctl=threadpoolctl.__version__,
                           openblas=blas, removedEnv=removed, rounds=rounds, minSeconds=min_time, minCalls=min_calls,
                           date=time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), results=results), f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())

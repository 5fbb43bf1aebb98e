#!/usr/bin/env python3
"""Where a multi-threaded `Bench tint` run leaves the other cores idle: the calling thread's samples outside any
parallel region, from a `perf record -g` profile.

    perf record -F 999 -g -o tint.data .build/release/Bench tint --tokens 256 --rounds 3 --threads 2 --no-oracle
    perf script -i tint.data -F tid,time,ip,sym > tint.txt
    Scripts/perf_serial.py tint.txt [--top 20]

The TinT forwards are found as the calling thread's spans of samples under `TinTExecutor` (the first, warm-up round is
dropped). Within them it prints the samples per thread, and the calling thread's samples whose stack holds no
`concurrentPerform`/`dispatch_apply`/worker frame: work no other thread can share. Those are grouped by leaf symbol and
by innermost TinT frame (names demangled with `swift demangle`). With perf sampling on-CPU time only, the serial share
holds on a loaded machine, where wall-clock timings do not.
"""
import argparse, collections, re, subprocess

EXECUTOR = 's4TinT0A9TExecutorV'          # TinT.TinTExecutor, as mangled
PARALLEL = ('dispatch_apply', 'concurrentPerform', '_dispatch_worker_thread', 'WorkerPool')


def samples(path):
    cur = None
    for line in open(path, errors='replace'):
        line = line.rstrip('\n')
        if not line:
            if cur: yield cur
            cur = None
        elif not line.startswith('\t'):  # a sample's header (the tid may be space-padded); frames start with a tab
            m = re.match(r'\s*(\d+)\s+([\d.]+):', line)
            cur = (int(m.group(1)), float(m.group(2)), []) if m else None
        elif cur is not None:
            parts = line.split(None, 1)
            if len(parts) == 2: cur[2].append(parts[1])
    if cur: yield cur


def demangle(names):
    out = subprocess.run(['swift', 'demangle', '--simplified', '--compact'], input='\n'.join(names),
                         capture_output=True, text=True).stdout.split('\n')
    return dict(zip(names, out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('script', help='output of perf script -F tid,time,ip,sym')
    ap.add_argument('--top', type=int, default=20)
    a = ap.parse_args()
    all_samples = list(samples(a.script))
    main_tid = min(s[0] for s in all_samples)
    times = sorted(s[1] for s in all_samples if s[0] == main_tid and any(EXECUTOR in f for f in s[2]))
    spans = []
    for t in times:
        if spans and t - spans[-1][1] < 0.2: spans[-1][1] = t
        else: spans.append([t, t])
    spans = [s for s in spans if s[1] - s[0] > 0.5][1:]
    inside = [s for s in all_samples if any(a0 <= s[1] <= b0 for a0, b0 in spans)]
    per_thread = collections.Counter(s[0] for s in inside)
    wall = sum(b0 - a0 for a0, b0 in spans) * 1000
    serial = [s for s in inside if s[0] == main_tid and not any(p in f for f in s[2] for p in PARALLEL)]
    total = sum(per_thread.values())
    print(f'{len(spans)} TinT forwards, {wall:.0f} ms wall; samples per thread: '
          + ', '.join(f'{t}{" (calling)" if t == main_tid else ""}: {n}' for t, n in per_thread.most_common()))
    print(f'calling thread alone: {len(serial)} of {total} samples ({100 * len(serial) / max(total, 1):.1f}%)')
    leaf = collections.Counter(s[2][0] if s[2] else '?' for s in serial)
    owner = collections.Counter(
        next((f for f in s[2] if 's4TinT' in f and EXECUTOR not in f and 's4TinT3Run' not in f), '?') for s in serial)
    names = demangle([n for n, _ in leaf.most_common(a.top)] + [n for n, _ in owner.most_common(a.top)])
    for title, counter in (('leaf symbol', leaf), ('innermost TinT frame', owner)):
        print(f'--- serial samples by {title}')
        for n, c in counter.most_common(a.top): print(f'{c:6d}  {names.get(n, n)[:150]}')


if __name__ == '__main__':
    main()

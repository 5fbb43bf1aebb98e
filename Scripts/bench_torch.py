#!/usr/bin/env python3
"""PyTorch CPU reference timings for the `Bench` subcommands, with the same methodology.

Modes (one per Bench subcommand that compares with PyTorch; add a function and an entry in MODES):
    opt     transformers' OPTForCausalLM, random weights, float32, eval mode (no dropout): forward with
            torch.no_grad() at each batch×tokens shape, and forward + backward (loss.backward() through every
            parameter, labels = input_ids) on 1×512. Default shape: OPT-125M (12 layers, D 768, 12 heads,
            FFN 3072, vocabulary 50272).

Pinned (install into a venv the repo ignores; the wheels are on PyPI / this machine's wheel cache):
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install 'torch==2.13.0+cpu' 'transformers==5.23.0'

Methodology (as `Bench opt`): after one warm-up call, each round times `--calls` calls and keeps the
fastest; we report the best and the median round over `--rounds` rounds, in milliseconds, per thread count
(torch.set_num_threads); --cpu-time uses the process CPU-time clock instead of wall time. Prints a table, and JSON with --json FILE (Bench reads it with --torch).
"""
import argparse
import json
import os
import statistics
import sys
import time


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count()}


def time_rounds(fn, rounds, calls, cpu_time=False):
    clock = time.process_time if cpu_time else time.perf_counter
    fn()  # warm-up (allocator, lazy init)
    out = []
    for _ in range(rounds):
        best = float("inf")
        for _ in range(calls):
            t0 = clock()
            fn()
            best = min(best, clock() - t0)
        out.append(best * 1e3)
    return out


def bench_opt(args):
    import torch
    import transformers
    from transformers import OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    config = OPTConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                       num_attention_heads=args.heads, ffn_dim=args.ffn, max_position_embeddings=2048,
                       word_embed_proj_dim=args.hidden, do_layer_norm_before=True)
    model = OPTForCausalLM(config).float().eval()
    impl = getattr(model.config, "_attn_implementation", "?")
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    results = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for (b, t) in shapes:
            ids = torch.randint(3, args.vocab, (b, t))

            def forward():
                with torch.no_grad():
                    model(input_ids=ids)

            rounds = time_rounds(forward, args.rounds, args.calls, args.cpu_time)
            results.append({"case": f"forward {b}x{t}", "batch": b, "tokens": t, "threads": threads,
                            "best_ms": min(rounds), "median_ms": statistics.median(rounds), "rounds_ms": rounds})
            print(f"threads {threads}  forward {b}x{t}: best {min(rounds):.1f} ms, median {statistics.median(rounds):.1f} ms",
                  flush=True)
        for (b, t) in [tuple(int(x) for x in s.split("x")) for s in args.backward_shapes.split(",")]:
            ids = torch.randint(3, args.vocab, (b, t))

            def forward_backward():
                model.zero_grad(set_to_none=True)
                out = model(input_ids=ids, labels=ids)
                out.loss.backward()

            rounds = time_rounds(forward_backward, args.rounds, args.calls, args.cpu_time)
            results.append({"case": f"forward+backward {b}x{t}", "batch": b, "tokens": t, "threads": threads,
                            "best_ms": min(rounds), "median_ms": statistics.median(rounds), "rounds_ms": rounds})
            print(f"threads {threads}  forward+backward {b}x{t}: best {min(rounds):.1f} ms, "
                  f"median {statistics.median(rounds):.1f} ms", flush=True)
    return {"bench": "opt", "framework": f"torch {torch.__version__}, transformers {transformers.__version__}",
            "attention": impl, "machine": machine(), "rounds": args.rounds, "calls": args.calls,
            "clock": "process CPU time" if args.cpu_time else "wall",
            "config": {"vocab": args.vocab, "hidden": args.hidden, "layers": args.layers, "heads": args.heads,
                       "ffn": args.ffn},
            "results": results}


MODES = {"opt": bench_opt}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=2, help="calls per round (the fastest is kept)")
    p.add_argument("--shapes", default="1x512,4x512", help="forward shapes BxT")
    p.add_argument("--backward-shapes", default="1x512", help="forward+backward shapes BxT")
    p.add_argument("--vocab", type=int, default=50272)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--ffn", type=int, default=3072)
    p.add_argument("--json", default=None)
    p.add_argument("--cpu-time", action="store_true", help="time with the process CPU-time clock (1 thread only)")
    args = p.parse_args()
    report = MODES[args.mode](args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

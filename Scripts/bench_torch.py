#!/usr/bin/env python3
"""Times in PyTorch (CPU, fp32) what `Bench autodiff` times through the Swift Autodiff tape, same methodology.

Pinned (install into a venv the repo ignores; never the CUDA build):
    python3 -m venv .venv-bench && .venv-bench/bin/pip install 'torch==2.13.0+cpu'

Workloads (OPT-125M shapes, T=512 D=768 12 heads FFN 3072 V=50272):
  block  one pre-LN OPT decoder layer x + attn(LN(x)), h + fc2(relu(fc1(LN(h)))), causal; backward from a fixed
         random gradient of the output to every parameter (x needs no gradient).
  model  token + position embeddings (offset 2), 2 such layers, final layer norm, tied LM head, summed
         cross-entropy over next tokens (last position ignored); backward from the loss.
  lm     (`bench_torch.py lm --family opt|gpt2|llama [options]`, for `Bench lm`; `bench_torch.py opt` is
         `lm --family opt`) transformers' OPTForCausalLM (OPT-125M), GPT2LMHeadModel (GPT-2 small) or
         LlamaForCausalLM (D 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab 32000, untied head), random
         weights, float32, eval mode, sdpa attention: forward under no_grad at 1x512 and 4x512 tokens, forward +
         backward (labels = input_ids, loss.backward() through every parameter) at 1x512. Needs transformers too:
         .venv-bench/bin/pip install 'torch==2.13.0+cpu' 'transformers==5.23.0'
         One warm-up call, then per round the fastest of --calls calls; best and median over --rounds rounds;
         --cpu-time uses the process CPU-time clock. `bench_torch.py lm --help` lists its options.
"forward" runs under torch.no_grad(); "forward (tape)" with autograd recording; "fwd+bwd" records and calls
backward (parameter .grad reset to None before each call, so gradients are freshly allocated as in Swift).
--cpu-time (1 thread) times with the calling thread's CPU clock, leaving out time the thread was descheduled.
A round is the fastest call of >= min-calls calls taking >= --min-time seconds; medians over --rounds rounds.
Attention: F.scaled_dot_product_attention(is_causal=True) (PyTorch's fused kernel, what HF OPT uses with sdpa) by
default; --attention manual spells it out (scores, additive causal mask, softmax, matmul) as the Swift side does.
"""
import argparse
import warnings
import json
import math
import os
import platform
import sys
import statistics
import time

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

V, D, HEADS, FFN, POSITIONS, LAYERS = 50272, 768, 12, 3072, 2050, 2


def make_params(kind, gen):
    specs = []
    layers = 1 if kind == "block" else LAYERS
    if kind == "model":
        specs += [("embed_tokens.weight", (V, D)), ("embed_positions.weight", (POSITIONS, D))]
    for l in range(layers):
        p = f"layers.{l}."
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            specs += [(p + n + ".weight", (D,)), (p + n + ".bias", (D,))]
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            specs += [(p + f"self_attn.{n}.weight", (D, D)), (p + f"self_attn.{n}.bias", (D,))]
        specs += [(p + "fc1.weight", (FFN, D)), (p + "fc1.bias", (FFN,)), (p + "fc2.weight", (D, FFN)), (p + "fc2.bias", (D,))]
    if kind == "model":
        specs += [("final_layer_norm.weight", (D,)), ("final_layer_norm.bias", (D,))]
    params = {}
    for name, shape in specs:
        if name.endswith("norm.weight"):
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=gen) * (0.01 if name.endswith("bias") else 0.02)
        params[name] = t.requires_grad_(True)
    return params


def block(x, p, l, attention):
    t = x.shape[0]
    dh = D // HEADS
    w = lambda n: p[l + n]
    a = F.layer_norm(x, (D,), w("self_attn_layer_norm.weight"), w("self_attn_layer_norm.bias"))
    heads = lambda n: F.linear(a, w(f"self_attn.{n}.weight"), w(f"self_attn.{n}.bias")).view(t, HEADS, dh).transpose(0, 1)
    q, k, v = heads("q_proj"), heads("k_proj"), heads("v_proj")
    if attention == "sdpa":
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        scores = (q * (1 / math.sqrt(dh))) @ k.transpose(-1, -2)
        mask = torch.full((t, t), float("-inf")).triu(1)
        o = torch.softmax(scores + mask, dim=-1) @ v
    h = x + F.linear(o.transpose(0, 1).reshape(t, D), w("self_attn.out_proj.weight"), w("self_attn.out_proj.bias"))
    m = F.layer_norm(h, (D,), w("final_layer_norm.weight"), w("final_layer_norm.bias"))
    return h + F.linear(F.relu(F.linear(m, w("fc1.weight"), w("fc1.bias"))), w("fc2.weight"), w("fc2.bias"))


CLOCK = time.perf_counter


def fastest(min_seconds, min_calls, fn):
    best, calls, start = float("inf"), 0, time.perf_counter()
    while True:
        t0 = CLOCK()
        fn()
        best = min(best, CLOCK() - t0)
        calls += 1
        total = time.perf_counter() - start
        if (calls >= min_calls and total >= min_seconds) or total >= 60:
            return best


# ---- lm mode (Bench lm --family …; `opt` is `lm --family opt`) ----

def opt_machine():
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


def opt_time_rounds(fn, rounds, calls, cpu_time=False):
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


# Each family's 125M-class default shape, as `Bench lm` builds it.
LM_DEFAULTS = {
    "opt": dict(vocab=50272, hidden=768, layers=12, heads=12, kv_heads=12, ffn=3072, positions=2048),
    "gpt2": dict(vocab=50257, hidden=768, layers=12, heads=12, kv_heads=12, ffn=3072, positions=1024),
    "llama": dict(vocab=32000, hidden=768, layers=12, heads=12, kv_heads=4, ffn=2048, positions=2048),
}


def lm_model(args):
    """The one place a family name becomes a transformers model (random init, float32, eval, sdpa)."""
    import transformers
    if args.family == "opt":
        config = transformers.OPTConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                                        num_attention_heads=args.heads, ffn_dim=args.ffn,
                                        max_position_embeddings=args.positions, word_embed_proj_dim=args.hidden,
                                        do_layer_norm_before=True)
        cls = transformers.OPTForCausalLM
    elif args.family == "gpt2":
        config = transformers.GPT2Config(vocab_size=args.vocab, n_embd=args.hidden, n_layer=args.layers,
                                         n_head=args.heads, n_inner=args.ffn, n_positions=args.positions)
        cls = transformers.GPT2LMHeadModel
    else:
        config = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                                          num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                                          intermediate_size=args.ffn, max_position_embeddings=args.positions,
                                          tie_word_embeddings=False)
        cls = transformers.LlamaForCausalLM
    config._attn_implementation = "sdpa"
    return cls(config).float().eval()


def bench_lm(args):
    import torch
    import transformers

    torch.manual_seed(0)
    model = lm_model(args)
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

            rounds = opt_time_rounds(forward, args.rounds, args.calls, args.cpu_time)
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

            rounds = opt_time_rounds(forward_backward, args.rounds, args.calls, args.cpu_time)
            results.append({"case": f"forward+backward {b}x{t}", "batch": b, "tokens": t, "threads": threads,
                            "best_ms": min(rounds), "median_ms": statistics.median(rounds), "rounds_ms": rounds})
            print(f"threads {threads}  forward+backward {b}x{t}: best {min(rounds):.1f} ms, "
                  f"median {statistics.median(rounds):.1f} ms", flush=True)
    return {"bench": "lm", "family": args.family, "framework": f"torch {torch.__version__}, transformers {transformers.__version__}",
            "attention": impl, "machine": opt_machine(), "rounds": args.rounds, "calls": args.calls,
            "clock": "process CPU time" if args.cpu_time else "wall",
            "model": type(model).__name__,
            "config": {"vocab": args.vocab, "hidden": args.hidden, "layers": args.layers, "heads": args.heads,
                       "kv_heads": args.kv_heads, "ffn": args.ffn, "positions": args.positions},
            "results": results}


def lm_main(argv, family=None):
    """`bench_torch.py lm --family F …` (or `opt …`): the PyTorch side of `Bench lm` (see the module docstring)."""
    prog = "bench_torch.py opt" if family else "bench_torch.py lm"
    p = argparse.ArgumentParser(prog=prog, description="PyTorch side of `Bench lm` (`Bench opt`)")
    if family is None:
        p.add_argument("--family", choices=sorted(LM_DEFAULTS), required=True)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=2, help="calls per round (the fastest is kept)")
    p.add_argument("--shapes", default="1x512,4x512", help="forward shapes BxT")
    p.add_argument("--backward-shapes", default="1x512", help="forward+backward shapes BxT")
    for name in ("vocab", "hidden", "layers", "heads", "kv-heads", "ffn", "positions"):
        p.add_argument("--" + name, type=int, default=None, help="default: the family's 125M-class shape")
    p.add_argument("--json", default=None)
    p.add_argument("--cpu-time", action="store_true", help="time with the process CPU-time clock (1 thread only)")
    args = p.parse_args(argv)
    if family is not None:
        args.family = family
    for k, v in LM_DEFAULTS[args.family].items():
        if getattr(args, k) is None:
            setattr(args, k, v if k != "kv_heads" or args.family == "llama" else args.heads)
    if args.family != "llama" and args.kv_heads != args.heads:
        p.error("--kv-heads applies to llama only")
    report = bench_lm(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "opt":
        return lm_main(sys.argv[2:], family="opt")
    if len(sys.argv) > 1 and sys.argv[1] == "lm":
        return lm_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--what", default="block,model")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--min-time", type=float, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--attention", choices=["sdpa", "manual"], default="sdpa")
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the calling thread's CPU time (1 thread only), as Bench autodiff --cpu-time")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        if args.threads != "1":
            ap.error("--cpu-time needs --threads 1")
        CLOCK = time.thread_time
    rounds = args.rounds or (1 if args.quick else 3)
    min_time = args.min_time if args.min_time is not None else (0 if args.quick else 1)
    min_calls = 1 if args.quick else 3
    T = args.tokens or (128 if args.quick else 512)
    threads = [int(s) for s in args.threads.split(",")]

    print(f"bench_torch — torch {torch.__version__}, {platform.processor() or platform.machine()}, attention {args.attention}")
    print(f"OPT-125M shapes: T={T} D={D} heads={HEADS} FFN={FFN} V={V}, float32")
    print(f"{'what':<8}{'thr':>4}{'fwd ms':>10}{'fwd(tape) ms':>14}{'fwd+bwd ms':>12}{'ratio':>7}{'tape ratio':>12}")
    results = []
    for kind in args.what.split(","):
        gen = torch.Generator().manual_seed(7)
        p = make_params(kind, gen)
        x = torch.randn(T, D, generator=gen)
        seed = torch.randn(T, D, generator=gen) * 1e-3
        tokens = torch.randint(0, V, (T,), generator=gen)
        targets = torch.cat([tokens[1:], torch.tensor([-100])])

        def forward():
            if kind == "block":
                return block(x, p, "layers.0.", args.attention)
            h = F.embedding(tokens, p["embed_tokens.weight"]) + p["embed_positions.weight"][2:T + 2]
            for l in range(LAYERS):
                h = block(h, p, f"layers.{l}.", args.attention)
            h = F.layer_norm(h, (D,), p["final_layer_norm.weight"], p["final_layer_norm.bias"])
            logits = h @ p["embed_tokens.weight"].t()
            return F.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")

        def forward_no_grad():
            with torch.no_grad():
                forward()

        def forward_backward():
            for t in p.values():
                t.grad = None
            y = forward()
            if kind == "block":
                y.backward(seed)
            else:
                y.backward()

        per_thread = {t: [] for t in threads}
        for _ in range(rounds):
            for t in threads:
                torch.set_num_threads(t)
                per_thread[t].append([fastest(min_time, min_calls, forward_no_grad),
                                      fastest(min_time, min_calls, lambda: forward()),
                                      fastest(min_time, min_calls, forward_backward)])
        for t in threads:
            r = per_thread[t]
            med = [statistics.median(x[i] for x in r) for i in range(3)]
            res = dict(what=kind, threads=t, forwardMs=med[0] * 1e3, forwardTapeMs=med[1] * 1e3,
                       forwardBackwardMs=med[2] * 1e3, ratio=med[2] / med[0], ratioVsTapeForward=med[2] / med[1], rounds=r)
            results.append(res)
            print(f"{kind:<8}{t:>4}{res['forwardMs']:>10.1f}{res['forwardTapeMs']:>14.1f}{res['forwardBackwardMs']:>12.1f}"
                  f"{res['ratio']:>7.2f}{res['ratioVsTapeForward']:>12.2f}")
    if args.json:
        json.dump(dict(bench="autodiff-torch", torch=torch.__version__, cpuTime=args.cpu_time, attention=args.attention, tokens=T, rounds=rounds,
                       minSeconds=min_time, minCalls=min_calls, results=results), open(args.json, "w"), indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

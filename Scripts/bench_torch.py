#!/usr/bin/env python3
"""Times in PyTorch (CPU, fp32) what `Bench autodiff` times through the Swift Autodiff tape, same methodology.

Pinned (install into a venv the repo ignores; never the CUDA build):
    python3 -m venv .venv-bench && .venv-bench/bin/pip install 'torch==2.13.0+cpu'

Workloads (OPT-125M shapes, T=512 D=768 12 heads FFN 3072 V=50272):
  block  one pre-LN OPT decoder layer x + attn(LN(x)), h + fc2(relu(fc1(LN(h)))), causal; backward from a fixed
         random gradient of the output to every parameter (x needs no gradient).
  model  token + position embeddings (offset 2), 2 such layers, final layer norm, tied LM head, summed
         cross-entropy over next tokens (last position ignored); backward from the loss.
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
import platform
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


def main():
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

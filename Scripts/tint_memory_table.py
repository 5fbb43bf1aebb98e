#!/usr/bin/env python3
"""What fits in 24 GiB (issue #16, Docs/BENCHMARKS.md): the memory of one TinT run for every released shape, from
the parameter report of `tint params --shape NAME --json` (the closed formulas; nothing is built).

    swift build -c release --product tint && Scripts/tint_memory_table.py [--tokens 256] [--tint .build/release/tint]

The model of a run's resident memory (checked against measured peak RSS in Docs/BENCHMARKS.md):
    aux weights      4 B x aux parameters          the caller's model, which the executor keeps for read-back
  + prefixes         2 x b x prefix-storage scalars the encoded prefixes and the run's updated copies
                                                   (b = 4 fp32, 2 with --prefix-storage float16/bfloat16)
  + stored rows      4 B x T x D_sim x F           the post-Forward token rows of the F Forward modules, kept
                                                   for the Backward
With --low-memory (`Bench tint --low-memory`: the aux model freed once encoded, no read-back base, one run that
consumes the executor, TinTExecutor.consumingRun) the weights and one prefix set meet only while encoding:
    low memory = max(aux weights + one prefix set,  one prefix set + tables (4 B x embeddings) + stored rows)
Bench's TinTMemoryPlan uses the same model to pick a plan. Constructed module weights are built once per distinct module and shared by every layer (TinTCompiler's
module cache), so they are small beside these. With the logits, working tensors and the allocator they make the
residue between this model and the measured peak RSS: +15% at OPT-1.3B (f16 prefixes: 15.24 GiB modelled, 17.52
measured), +15% at OPT-125M (fp32: 2.02 modelled, 2.32 measured). "Fits" therefore asks 1.15 x the model to stay
within the budget. Standard library only.
"""
import argparse, json, subprocess

SHAPES = ["opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b", "opt-13b", "gpt2", "gpt2-medium",
          "gpt2-large", "gpt2-xl", "llama-125m", "tinyllama-1.1b", "llama-2-7b"]
GIB = 1024 ** 3

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--tint", default=".build/release/tint")
    ap.add_argument("--budget", type=float, default=24.0, help="GiB")
    a = ap.parse_args()
    print(f"| shape | aux params | TinT params | D_sim | Forward modules | aux weights | prefixes fp32 / half (×2) "
          f"| stored rows (T = {a.tokens}) | total fp32 | total half | half, low memory "
          f"| fits {a.budget:g} GiB (fp32 / half / half low memory) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for shape in SHAPES:
        r = json.loads(subprocess.run([a.tint, "params", "--shape", shape, "--json"], check=True,
                                      capture_output=True, text=True).stdout)
        aux, prefix = r["aux_parameters"], sum(k["prefix_storage"] for k in r["kinds"])
        forward = sum(k["modules"] for k in r["kinds"] if k["kind"].endswith("Forward"))
        weights = 4 * aux
        rows = 4 * a.tokens * r["sim_width"] * forward
        full, half = weights + 2 * 4 * prefix + rows, weights + 2 * 2 * prefix + rows
        low = max(weights + 2 * prefix, 2 * prefix + 4 * r["embeddings"] + rows)
        fits = lambda b: "yes" if 1.15 * b / GIB <= a.budget else "no"
        print(f"| {shape} | {aux / 1e9:.3f}B | {r['total'] / 1e9:.2f}B | {r['sim_width']} | {forward} "
              f"| {weights / GIB:.1f} | {2 * 4 * prefix / GIB:.1f} / {2 * 2 * prefix / GIB:.1f} | {rows / GIB:.1f} "
              f"| {full / GIB:.1f} | {half / GIB:.1f} | {low / GIB:.1f} | {fits(full)} / {fits(half)} / {fits(low)} |")

if __name__ == "__main__":
    main()

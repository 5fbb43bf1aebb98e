#!/usr/bin/env python3
"""The Markdown tables of Docs/RESULTS.md's in-context-learning section from Docs/results/icl/*.json
(Scripts/run_icl_table.sh). Standard library only.

    python3 Scripts/icl_results_table.py [DIR]
"""
import json
import pathlib
import sys

TASKS = ["mr", "product-reviews", "nyt-editorials", "bbc-news", "amazon-food", "fortunes"]
METHODS = ["icl", "exact", "approx", "tint"]


def pct(x):
    return f"{100 * x:.1f}"


def main():
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "Docs/results/icl")
    for shots in (0, 32):
        rows = []
        for task in TASKS:
            path = folder / f"{task}-{shots}shot.json"
            if not path.exists():
                continue
            r = json.loads(path.read_text())
            m = {x["method"]: x for x in r["methods"]}
            cells = []
            for name in METHODS:
                x = m[name]
                eta = "" if x.get("lr") is None else f" (η {x['lr']:g})"
                cells.append(f"{pct(x['accuracy_mean'])} ± {pct(x['accuracy_std'])}{eta}")
            optimistic = " / ".join(pct(m[n]["optimistic_mean"]) for n in ("exact", "approx", "tint"))
            grid = r["lr_grid"]
            agreement = r.get("tint_approx_agreement") or []
            chosen = m["tint"].get("lr")
            agree = pct(agreement[grid.index(chosen)]) if agreement and chosen in grid else "—"
            worst = max(agreement) if agreement else None
            low = min(agreement) if agreement else None
            deviation = m["tint"].get("shared_update_deviation")
            seconds = " / ".join(f"{m[n]['seconds']:.0f}" for n in METHODS)
            labels = len(r["labels"])
            rows.append(f"| {task} ({labels}) | {' | '.join(cells)} | {optimistic} | {agree} ({pct(low)}–{pct(worst)}) | "
                        f"{'—' if deviation is None else f'{deviation:.1g}'} | {seconds} |")
        if not rows:
            continue
        print(f"**{shots}-shot**\n")
        print("| task (labels) | icl | exact | approx | tint | optimistic exact / approx / tint | tint = approx, % at tint's η (range over η) | shared-update check | seconds icl / exact / approx / tint |")
        print("|---|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        print()


if __name__ == "__main__":
    main()

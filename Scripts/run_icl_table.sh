#!/usr/bin/env bash
# The in-context-learning table of Docs/RESULTS.md (issue #15): `tint icl --compare` on every task at 0 and 32 shots
# with the ICL model, one JSON per (task, shots) in Docs/results/icl/. Resumable: a finished JSON is skipped, and each
# is written to a temporary file first, so an interrupted run leaves no partial result.
#
#   Scripts/run_icl_table.sh                 # MODEL=Scripts/icl_model (the shipped F16 model) TASKS=.data/icl SHOTS="32 0"
#   Scripts/icl_results_table.py             # the Markdown table from the JSONs
#
# Settings (Docs/ICL.md; TINT-REFERENCE §8.2 for the authors'):
#   32 shots: label-only loss over the concatenated demonstrations, content-free calibration, seeds 1–3;
#   0 shots:  the context loss (each method learns from the query's own text, the paper's 0-shot rows), no
#             calibration, seed 1 only (with no demonstrations every seed gives the same prompts);
#   both:     prompts of at most 1,024 tokens (the trained context; earlier demonstrations dropped), 200 test and
#             100 validation examples, η chosen on validation from 1e-5, 1e-4, 1e-3, 1e-2 (the summed
#             loss), one step over every layer, TinT with the defaults (S 3, H_sim 12 for D 192).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-Scripts/icl_model}
TASKS=${TASKS:-.data/icl}
TINT=${TINT:-.build/release/tint}
OUT=${OUT:-Docs/results/icl}
GRID=${GRID:-1e-5,1e-4,1e-3,1e-2}
MAX=${MAX:-200}
VAL=${VAL:-100}
SHOTS=${SHOTS:-32 0}
[[ -x $TINT ]] || swift build -c release --product tint
mkdir -p "$OUT"
for shots in $SHOTS; do
    for task in mr product-reviews nyt-editorials bbc-news amazon-food fortunes; do
        out=$OUT/$task-${shots}shot.json
        [[ -f $out ]] && continue
        if [[ $shots == 0 ]]; then extra=(--loss context --seeds 1); else extra=(--loss label-only --calibrate --seeds 3); fi
        echo "$(date -u +%H:%M:%S) $task $shots-shot" >&2
        "$TINT" icl --model "$MODEL" --task "$TASKS/$task" --shots "$shots" "${extra[@]}" --compare \
            --context 1024 --lr-grid "$GRID" --max-examples "$MAX" --validation-examples "$VAL" --json --quiet > "$out.tmp"
        mv "$out.tmp" "$out"
    done
done

#!/usr/bin/env bash
# Trains the ICL model of issue #15 from scratch (Docs/DATA.md, "Pretraining corpus and the ICL model"):
# a 5.1M-parameter Llama (Scripts/icl_model/config.json) on the pretraining corpus, with the 8,192-token BPE
# in Scripts/icl_model/.
#
#   Scripts/train_icl_model.sh            # prepare everything that is missing, then train (about 3-4 h)
#   Scripts/train_icl_model.sh --resume   # continue an interrupted run from its latest checkpoint
#
# Environment (defaults in brackets):
#   OUT      the run directory                                    [.data/run-icl-llama]
#   TINT     the tint binary (a copy, so rebuilds cannot replace it mid-run)  [.data/bin/tint, built here]
#   CORPUS   the folder with train.txt and validation.txt          [.data/corpus]
#   ICL      the ICL task folder for the corpus                    [.data/icl]
#   NICE     niceness of the training process                      [19]
#
# The run that produced the model (2026-12-01) ran from copies of the binary and inputs under /work/runs:
#   OUT=/work/runs/icl-llama TINT=/work/runs/bin/tint CORPUS=/work/runs/icl-llama-inputs \
#     setsid nohup Scripts/train_icl_model.sh > /work/runs/icl-llama.log 2>&1 < /dev/null &
# and is resumed, if the machine stops it, with the same line plus --resume (and >> to append to the log).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-.data/run-icl-llama}
TINT=${TINT:-.data/bin/tint}
CORPUS=${CORPUS:-.data/corpus}
ICL=${ICL:-.data/icl}
NICE=${NICE:-19}
RESUME=()
[[ ${1:-} == --resume ]] && RESUME=(--resume)

if [[ ! -f $CORPUS/train.txt ]]; then
    [[ -d $ICL ]] || python3 Scripts/prepare_icl_tasks.py
    python3 Scripts/prepare_corpus.py --icl "$ICL" --out "$CORPUS"
fi
python3 Scripts/prepare_corpus.py --check --out "$CORPUS"
if [[ ! -x $TINT ]]; then
    swift build -c release --product tint
    mkdir -p "$(dirname "$TINT")"
    cp .build/release/tint "$TINT"
fi

# 6,000 steps of 4 rows x 1,024 tokens (24.6M tokens, about 2.3 passes over the 10.7M-token train split).
exec nice -n "$NICE" "$TINT" train --config Scripts/icl_model/config.json \
    --data "$CORPUS/train.txt" --validation "$CORPUS/validation.txt" --tokenizer Scripts/icl_model \
    --out "$OUT" --steps 6000 --batch 4 --context 1024 --lr 0.0015 --warmup 200 --schedule cosine \
    --min-lr-ratio 0.1 --weight-decay 0.1 --clip 1.0 --seed 1 \
    --eval-every 250 --eval-rows 16 --checkpoint-every 500 --log-every 25 --threads 2 "${RESUME[@]}"

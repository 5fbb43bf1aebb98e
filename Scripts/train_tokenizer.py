#!/usr/bin/env python3
"""Trains the demo model's tokenizer: an OPT/GPT-2-style byte-level BPE on the train split.

    python3 -m venv .venv-fixtures && .venv-fixtures/bin/pip install 'tokenizers==0.23.3'
    python3 Scripts/prepare_demo_data.py                  # makes .data/kjv/train.txt
    .venv-fixtures/bin/python Scripts/train_tokenizer.py

Writes vocab.json, merges.txt and tokenizer_config.json (OPT's special tokens: `<s>` `<pad>` `</s>` `<unk>`
with ids 0..3, `</s>` prepended to every encoding) into Sources/TintCLI/DemoModel/, and
Tests/TintCLITests/Data/tokenizer_sample.json: the ids `tokenizers` gives for the first chapters of the
validation split and a few tricky strings, which the Swift BPETokenizer must reproduce.
"""
import json
from pathlib import Path

import tokenizers
from tokenizers import ByteLevelBPETokenizer

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / ".data/kjv/train.txt"
VALIDATION = ROOT / "Sources/TintCLI/DemoData/validation.txt"
OUT = ROOT / "Sources/TintCLI/DemoModel"
SAMPLE = ROOT / "Tests/TintCLITests/Data/tokenizer_sample.json"

VOCAB_SIZE = 4096
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in OPT's vocabulary
BOS = 2
TOKENIZER_CONFIG = {
    "tokenizer_class": "GPT2Tokenizer",
    "add_bos_token": True,
    "add_prefix_space": False,
    "bos_token": "</s>",
    "eos_token": "</s>",
    "unk_token": "</s>",
    "pad_token": "<pad>",
    "errors": "replace",
    "model_max_length": 512,
}
TRICKY = ["", " ", "  leading spaces", "trailing  ", "Hello, world!", "It's 1611; the LORD's day.",
          "a</s>b", "<pad> padded", "tabs\tand\nnewlines\n\n", "caf\u00e9 na\u00efve \u2014 \u65e5\u672c \U0001F600",
          "Numbers 3:16 and 144,000"]


def main():
    assert tokenizers.__version__ == "0.23.3", f"pinned tokenizers 0.23.3, found {tokenizers.__version__}"
    OUT.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()  # add_prefix_space False, no normaliser: GPT-2 / OPT style
    bpe.train(files=[str(TRAIN)], vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIAL_TOKENS,
              show_progress=False)
    bpe.save_model(str(OUT))
    (OUT / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=1) + "\n", encoding="utf-8")
    vocab = json.loads((OUT / "vocab.json").read_text(encoding="utf-8"))
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3], "special tokens must have OPT's ids 0..3"
    assert len(vocab) == VOCAB_SIZE, len(vocab)

    # `</s>` and `<pad>` are special inside text for OPT; ByteLevelBPETokenizer knows all four as added tokens,
    # so split on OPT's two by hand and encode the rest.
    def encode(text):
        ids, rest = [BOS], text
        while rest:
            hits = [(rest.find(s), s) for s in ("</s>", "<pad>") if s in rest]
            if not hits:
                ids += bpe.encode(rest).ids
                break
            i, s = min(hits)
            if i:
                ids += bpe.encode(rest[:i]).ids
            ids.append(vocab[s])
            rest = rest[i + len(s):]
        return ids

    chapters = VALIDATION.read_text(encoding="ascii").split("\n\n")[:3]
    cases = [{"text": t, "ids": encode(t)} for t in ["\n\n".join(chapters)] + TRICKY]
    for c in cases:
        assert bpe.decode(c["ids"][1:], skip_special_tokens=False) == c["text"], c["text"]
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    SAMPLE.write_text(json.dumps({"tokenizers": tokenizers.__version__, "cases": cases}) + "\n", encoding="utf-8")
    n = len(encode(VALIDATION.read_text(encoding="ascii")))
    print(f"vocab {len(vocab)}, merges {VOCAB_SIZE - 256 - len(SPECIAL_TOKENS)}; validation: {n} tokens; "
          f"wrote {OUT.relative_to(ROOT)} and {SAMPLE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

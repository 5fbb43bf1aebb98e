#!/usr/bin/env python3
"""Trains the ICL model's tokenizer: a GPT-2/OPT-style byte-level BPE with 8,192 tokens on the pretraining
corpus's train split (Docs/DATA.md, "Pretraining corpus and the ICL model").

    python3 Scripts/prepare_corpus.py                       # makes .data/corpus/train.txt
    python3 -m venv /work/.venv-model && /work/.venv-model/bin/pip install 'tokenizers==0.23.3'
    /work/.venv-model/bin/python Scripts/train_icl_tokenizer.py
    /work/.venv-model/bin/python Scripts/train_icl_tokenizer.py --check   # only compare with the committed files

Writes vocab.json, merges.txt and tokenizer_config.json into Scripts/icl_model/ (beside the model's
config.json), with OPT's special tokens `<s>` `<pad>` `</s>` `<unk>` as ids 0..3 and `</s>` (id 2) as the
beginning-of-sequence token, as in the demo model. Same settings as Scripts/train_tokenizer.py (no
normaliser, no prefix space, min_frequency 2); training is deterministic, and --check retrains and
compares byte for byte. Prints the token count of every split and source.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import tokenizers
from tokenizers import ByteLevelBPETokenizer

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / ".data" / "corpus"
OUT = ROOT / "Scripts" / "icl_model"
VERSION = "0.23.3"
VOCAB_SIZE = 8192
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]
TOKENIZER_CONFIG = {
    "tokenizer_class": "GPT2Tokenizer",
    "add_bos_token": True,
    "add_prefix_space": False,
    "bos_token": "</s>",
    "eos_token": "</s>",
    "unk_token": "</s>",
    "pad_token": "<pad>",
    "errors": "replace",
    "model_max_length": 2048,
}
FILES = ["vocab.json", "merges.txt", "tokenizer_config.json"]


def train(out):
    bpe = ByteLevelBPETokenizer()
    bpe.train(files=[str(CORPUS / "train.txt")], vocab_size=VOCAB_SIZE, min_frequency=2,
              special_tokens=SPECIAL_TOKENS, show_progress=False)
    bpe.save_model(str(out))
    (out / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=1) + "\n", encoding="utf-8")
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3], "special tokens must have OPT's ids 0..3"
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    return bpe


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="retrain in a temporary folder and compare")
    ap.add_argument("--no-counts", action="store_true", help="skip counting tokens")
    args = ap.parse_args()
    if tokenizers.__version__ != VERSION:
        sys.exit(f"train_icl_tokenizer: pinned tokenizers {VERSION}, found {tokenizers.__version__}")
    if not (CORPUS / "train.txt").exists():
        sys.exit("train_icl_tokenizer: .data/corpus/train.txt is missing; run Scripts/prepare_corpus.py")
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            train(Path(tmp))
            bad = [f for f in FILES if (Path(tmp) / f).read_bytes() != (OUT / f).read_bytes()]
        print("tokenizer: " + (f"DIFFERS in {', '.join(bad)}" if bad else "ok, the committed files are reproduced"))
        sys.exit(1 if bad else 0)
    OUT.mkdir(parents=True, exist_ok=True)
    bpe = train(OUT)
    print(f"vocab {VOCAB_SIZE}, merges {VOCAB_SIZE - 256 - len(SPECIAL_TOKENS)}; wrote {OUT.relative_to(ROOT)}")
    if args.no_counts:
        return
    # Tokens per split (documents encoded separately, without the BOS `tint train` adds per row).
    # Documents are separated by blank lines and come source by source in stats.json's order.
    stats = json.loads((CORPUS / "stats.json").read_text(encoding="utf-8"))["sources"]
    for split in ("train", "validation"):
        docs = (CORPUS / f"{split}.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n")
        assert len(docs) == sum(s[f"{split}_documents"] for s in stats.values())
        lengths = [len(e.ids) for e in bpe.encode_batch(docs)]
        at, parts = 0, []
        for name, s in stats.items():
            n = s[f"{split}_documents"]
            parts.append(f"{name} {sum(lengths[at:at + n]):,}")
            at += n
        print(f"{split}: {sum(lengths):,} tokens ({', '.join(parts)})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference encodings for tokenizer.json components the four zoo fixtures do not use.

Each variant is one of the fixture tokenizers (Tests/ZooTests/Fixtures, from make_zoo_fixtures.py) with a few
members replaced (`set`: dotted path -> value; `append_added_tokens`), encoded and decoded by Hugging Face
`tokenizers` on a set of tricky strings. Tests/ZooTests/TokenizerJSONTests.swift applies the same edits and
compares. Writes Tests/ZooTests/Fixtures/reference/tokenizer_variants.json.

    python Scripts/make_tokenizer_variants.py     (tokenizers==0.23.3)
"""
import copy
import json
import os

import tokenizers
from tokenizers import Tokenizer

assert tokenizers.__version__ == "0.23.3", tokenizers.__version__
ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ZooTests", "Fixtures")
BASES = {"gpt2": "tiny-gpt2", "llama": "tiny-llama", "llama-metaspace": "tiny-llama-metaspace",
         "llama3-style": "tokenizers/llama3-style"}
TEXTS = ["", " ", "Hello world", " Hello world", "Hello  world", "   leading spaces", "trailing spaces   ",
         "tabs\tand\t\ttabs", "new\nlines\n\nand\r\nCRLF", "x  \n  y", " \xa0 ", "café crème", "e\u0301 \u212b",
         "👨\u200d👩\u200d👧 family", "灯台の光", "한국어", "12.5 degrees", "1,234,567 and 3.14159", "x1234y 56 ७८९",
         "٣٤٥ and ۱۲۳", "½ cup, x² and H₂O", "ﬁ ＡＢＣ ①", "don't won't it's", "DON'T IT'S", "'s't're",
         "a/b\\c|d", "\x00\x01 bell", "a</s>b", "<s>hi</s>there", "<|endoftext|>x", "▁ literal", "Hello ▁world",
         "ab abc", "supercalifragilistic", "aaaaaaaaaaaa", "a <m> b", "a  \t<m>  b", "<m>x", " <m>", "a<r>  b",
         "a <r>\n b", "<r> <m>", "<r><m>", "x <b> y", "  <b>  ", "<r>  <b>", "a\xa0<m>"]


def split(behavior, invert):
    return {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": " "}, "behavior": behavior, "invert": invert},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}}


GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
VARIANTS = [
    ("metaspace-always", "llama-metaspace", {"pre_tokenizer.prepend_scheme": "always"}),
    ("metaspace-never", "llama-metaspace", {"pre_tokenizer.prepend_scheme": "never"}),
    ("metaspace-split", "llama-metaspace", {"pre_tokenizer.split": True}),
    ("metaspace-decoder", "llama-metaspace",
     {"decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}}),
    ("metaspace-decoder-first", "llama-metaspace", {"decoder": {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}}),
    ("digits-individual", "gpt2", {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}}),
    ("digits-contiguous", "gpt2", {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}}),
    *[(f"split-{b}-{'inverted' if inv else 'plain'}", "gpt2", split(b, inv))
      for b in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"] for inv in [False, True]],
    ("split-gpt2-regex", "gpt2", {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": GPT2_REGEX}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}}),
    ("bytelevel-prefix-space", "gpt2", {"pre_tokenizer.add_prefix_space": True}),
    ("nfkc", "gpt2", {"normalizer": {"type": "NFKC"}}),
    ("nfd-replace", "gpt2", {"normalizer": {"type": "Sequence", "normalizers": [
        {"type": "NFD"}, {"type": "Replace", "pattern": {"String": "a"}, "content": "AA"}]}}),
    ("roberta", "gpt2", {"post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 447],
                                            "cls": ["<|endoftext|>", 447], "trim_offsets": True,
                                            "add_prefix_space": False}}),
    ("unk-unfused", "llama", {"model.byte_fallback": False, "model.fuse_unk": False}),
    ("unk-fused", "llama", {"model.byte_fallback": False, "model.fuse_unk": True}),
    ("no-unk", "llama", {"model.byte_fallback": False, "model.unk_token": None}),
    ("no-decoder", "llama", {"decoder": None}),
    ("llama3-merges", "llama3-style", {"model.ignore_merges": False}),
]
NORMALIZED_ADDED = [
    {"id": 400, "content": "ab", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
     "special": False},
    {"id": 401, "content": "o w", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
     "special": True}]


STRIPPED_ADDED = [
    {"id": 448, "content": "<m>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False,
     "special": True},
    {"id": 449, "content": "<r>", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False,
     "special": True},
    {"id": 450, "content": "<b>", "single_word": False, "lstrip": True, "rstrip": True, "normalized": False,
     "special": False}]


def apply(t, edits, added):
    for path, value in edits.items():
        *parents, last = path.split(".")
        node = t
        for p in parents:
            node = node[p]
        node[last] = value
    t["added_tokens"] += added


def main():
    bases = {n: json.load(open(os.path.join(ROOT, d, "tokenizer.json"), encoding="utf-8")) for n, d in BASES.items()}
    out = []
    for name, base, edits, added in [(*v, []) for v in VARIANTS] + [("normalized-added-tokens", "llama", {}, NORMALIZED_ADDED),
                                                                ("stripped-added-tokens", "gpt2", {}, STRIPPED_ADDED)]:
        t = copy.deepcopy(bases[base])
        apply(t, edits, added)
        tok = Tokenizer.from_str(json.dumps(t))
        cases = []
        for s in TEXTS:
            ids = tok.encode(s).ids
            cases.append({"text": s, "ids": ids, "ids_no_special": tok.encode(s, add_special_tokens=False).ids,
                          "decoded": tok.decode(ids, skip_special_tokens=False),
                          "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
        out.append({"name": name, "base": BASES[base], "set": edits, "append_added_tokens": added, "cases": cases})
    doc = {"about": "tokenizers %s encodings of fixture tokenizers with members replaced (Scripts/make_tokenizer_variants.py)"
           % tokenizers.__version__, "variants": out}
    with open(os.path.join(ROOT, "reference", "tokenizer_variants.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()

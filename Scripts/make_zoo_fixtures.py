#!/usr/bin/env python3
"""Writes the committed GPT-2 and Llama fixtures in Tests/ZooTests/Fixtures/.

Pinned versions: the same as Scripts/make_fixtures.py (whose PINNED dict and version check this script
imports, with a few other helpers), and the script refuses to run with others:
    torch 2.13.0+cpu, transformers 5.23.0, tokenizers 0.23.3, safetensors 0.8.0, regex 2026.11.15

Setup, from the repository root (the same venv as make_fixtures.py):
    python3 -m venv .venv-fixtures
    .venv-fixtures/bin/pip install 'torch==2.13.0+cpu' 'transformers==5.23.0' 'tokenizers==0.23.3' \
        'safetensors==0.8.0' 'regex==2026.11.15'
    .venv-fixtures/bin/python Scripts/make_zoo_fixtures.py

Nothing is downloaded: every tokenizer is trained by `tokenizers` on Scripts/fixture_corpus.txt and every
model is built from its config with seeded random weights. Everything runs in eval mode (no dropout), in
float32, with eager attention, on one CPU thread, seeded; a second run writes the same bytes.

What it writes (about 2.4 MB on disk; 1.5 MB packed in git, where identical files are one blob):
    tiny-gpt2/                   GPT2LMHeadModel saved by save_pretrained: config.json (model_type gpt2,
                                 n_embd 32, n_layer 2, n_head 4, n_positions 64, n_inner null = 4*n_embd,
                                 gelu_new, tied lm_head), generation_config.json, model.safetensors
                                 (no lm_head.weight: it is transformer.wte.weight), and the GPT-2 tokenizer
                                 in both forms: tokenizer.json, vocab.json + merges.txt, tokenizer_config.json.
                                 The byte-level BPE has <|endoftext|> as its LAST id (as GPT-2's 50256),
                                 bos = eos = unk; no BOS is added to encodings (GPT-2 behaviour).
    tiny-gpt2-legacy/            the same, but model.safetensors (written by safetensors.torch.save_file)
                                 also holds the old buffers transformer.h.{i}.attn.bias (F32 causal tril,
                                 [1, 1, 64, 64]) and transformer.h.{i}.attn.masked_bias (F32 scalar -1e4),
                                 which a loader must ignore. Reference: reference/tiny-gpt2.*
    tiny-gpt2-f16/, tiny-gpt2-bf16/    the same model saved in float16 / bfloat16 (config dtype accordingly)
    tiny-llama/                  LlamaForCausalLM: hidden 32, 2 layers, 4 heads, 2 kv heads (GQA), head_dim 8,
                                 intermediate 48 (SwiGLU), rms_norm_eps 1e-5, rope_parameters {rope_type
                                 default, rope_theta 500}, max_position_embeddings 64, no biases, untied
                                 lm_head, bos 1, eos 2; tokenizer.json in the Llama-2 layout (BPE with
                                 byte_fallback and <0x00>..<0xFF> at ids 3..258, normalizer Prepend("▁") +
                                 Replace(" ", "▁"), no pre-tokenizer, decoder Replace/ByteFallback/Fuse/Strip,
                                 TemplateProcessing adding <s>) and tokenizer_config.json (LlamaTokenizerFast,
                                 add_bos_token true, add_eos_token false, legacy true)
    tiny-llama-v4config/         the same weights and tokenizer; config.json in the transformers-4 form
                                 (top-level rope_theta 500.0, rope_scaling null, torch_dtype, no
                                 rope_parameters). Reference: reference/tiny-llama.*
    tiny-llama-f16/, tiny-llama-bf16/  the Llama model saved in float16 / bfloat16
    tiny-llama-metaspace/        tokenizer only (tokenizer.json, tokenizer_config.json with legacy false): the
                                 same vocabulary and merges in the layout transformers' LlamaConverter writes
                                 for legacy=false (Mistral v0.3 and later Llamas): normalizer null,
                                 pre_tokenizer Metaspace("▁", prepend_scheme "first", split false), and the
                                 Llama-2 decoder (a Metaspace decoder would not undo byte fallback)
    tokenizers/llama3-style/     tokenizer only (tokenizer.json, tokenizer_config.json): byte-level BPE with
                                 ignore_merges true (and two whole-word tokens, "Ġlighthouse" and "Ġfoghorn",
                                 that no merges build: ignore_merges makes them one token), pre_tokenizer Sequence[Split(Llama-3 regex, isolated),
                                 ByteLevel(use_regex false)], special tokens <|begin_of_text|> ... <|eot_id|>
                                 after the vocabulary, post_processor Sequence[ByteLevel, TemplateProcessing
                                 adding <|begin_of_text|>]
    Merges: tiny-gpt2's and tiny-llama's tokenizer.json write them as "a b" strings (as files from before
    tokenizers 0.20, GPT-2's and Llama-2's among them, do); the Metaspace and Llama-3-style files as
    ["a", "b"] pairs (as tokenizers writes them now). A loader needs both.
    reference/<model>.json       tiny-gpt2 and tiny-llama (also the references of -legacy and -v4config):
                                 text, input_ids (the tokenizer's, so Llama's start with <s> and GPT-2's have
                                 no BOS), vocab_size, loss_mean and loss_sum (cross-entropy of logits[t] vs
                                 input_ids[t+1]), loss_positions, gradients_of, tied_embeddings, "sgd" (as the
                                 OPT fixtures: plain SGD lr 0.5 on the mean loss, 3 steps), "dynamic_eval"
                                 (plain SGD lr 1e-2 on all parameters, 2 steps, on the SUMMED loss of the
                                 first half of the targets; summed loss of the second half before and after)
                                 and "padded_batch" (two left-padded rows: input_ids, attention_mask,
                                 position_ids, pad_token_id)
    reference/<model>.outputs.safetensors     logits [1, T, V], sgd_logits [1, T, V] (after the SGD steps),
                                 padded_logits [2, P, V] (position_ids counted from the mask, as generate()
                                 does) and padded_logits_default_positions [2, P, V] (no position_ids, so
                                 0..P-1 in both rows: what model(input_ids, attention_mask) computes); both
                                 are zero where attention_mask is 0
    reference/<model>.gradients.safetensors   d(loss_mean)/d(parameter) for every parameter, under its name
                                 in the checkpoint (the key sets are equal; GPT-2's tied head adds into
                                 transformer.wte.weight)
    reference/tiny-{gpt2,llama}-{f16,bf16}.json and .outputs.safetensors   text, input_ids, losses and
                                 logits of the fp32 model with every weight rounded to float16 / bfloat16 and
                                 upcast back to float32: what a loader that converts to Float must reproduce
    reference/tokenizer_cases.{gpt2,llama,llama-metaspace,llama3-style}.json
                                 encodings by `tokenizers` (Tokenizer.from_file on the tokenizer.json) of
                                 make_fixtures.py's tricky strings plus more (whitespace runs, CRLF, combining
                                 marks, ZWJ emoji and flags, CJK, long numbers, contractions in upper case,
                                 every family's special tokens written literally): ids with and without
                                 special tokens, tokens, decodes (special tokens kept, and skipped); where
                                 transformers' AutoTokenizer on the directory differs, the difference; and
                                 decodes of invalid UTF-8 byte sequences

Checks made on the way: transformers loads every model directory (default attention; the twins upcast to
float32) to the recorded logits within 1e-5; a float64 forward written out in this file from config.json and
model.safetensors alone agrees within 2e-5; each padded row equals the row run alone; the GPT-2 encodings
equal make_fixtures.py's port of GPT-2's encoder.py.
"""

import copy
import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as opt  # noqa: E402  (shared pins, version check, JSON writer, GPT-2 reference BPE, strings)

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers  # noqa: E402
from tokenizers import processors, trainers  # noqa: E402
from transformers import (AutoConfig, AutoModelForCausalLM, AutoTokenizer, GPT2Config,  # noqa: E402
                          GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "Scripts" / "fixture_corpus.txt"
OUT = ROOT / "Tests" / "ZooTests" / "Fixtures"
REF = OUT / "reference"

ATTN = "eager"
FORWARD_TEXT = "The keeper counted the waves. It's 12.5 degrees at noon."  # shorter than OPT's: smaller files
SGD_LR = opt.SGD_LR          # as the OPT fixtures: plain SGD on the mean loss
SGD_STEPS = opt.SGD_STEPS
DYN_LR = 1e-2                # dynamic evaluation: plain SGD on the summed loss of the first half
DYN_STEPS = 2
PADDED_TEXTS = ["The lamp was lit.", "Ships rarely answered."]

GPT2_VOCAB = 448             # including <|endoftext|>, the last id
LLAMA_VOCAB = 400            # 3 specials + 256 byte tokens + characters + merges
LLAMA_ALPHABET = 64          # characters kept (the rest fall back to bytes, as SentencePiece's coverage)
LLAMA3_VOCAB = 600           # before the special tokens (no model here: more merges, more visible splits)
EOT = "<|endoftext|>"
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>"]
# Whole words added to the Llama-3-style vocabulary without merges that build them (as tiktoken conversions
# have): with ignore_merges true a pre-token found in the vocabulary is one token, whatever the merges say.
LLAMA3_WHOLE_WORDS = ["Ġlighthouse", "Ġfoghorn"]
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

GPT2_ARCH = dict(n_embd=32, n_layer=2, n_head=4, n_positions=64, activation_function="gelu_new",
                 tie_word_embeddings=True)
LLAMA_ARCH = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                  intermediate_size=48, hidden_act="silu", rms_norm_eps=1e-5, max_position_embeddings=64,
                  rope_parameters={"rope_type": "default", "rope_theta": 500.0}, attention_bias=False,
                  mlp_bias=False, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)

GPT2_TOKENIZER_CONFIG = {
    "tokenizer_class": "GPT2Tokenizer",
    "add_prefix_space": False,
    "bos_token": EOT,
    "eos_token": EOT,
    "unk_token": EOT,
    "errors": "replace",
    "clean_up_tokenization_spaces": False,
    "model_max_length": 64,
}
LLAMA_TOKENIZER_CONFIG = {
    "tokenizer_class": "LlamaTokenizerFast",
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": None,
    "legacy": True,  # the normalizer layout is what the legacy converter wrote: "▁" before every segment
    "clean_up_tokenization_spaces": False,
    "model_max_length": 64,
}
LLAMA_METASPACE_TOKENIZER_CONFIG = dict(LLAMA_TOKENIZER_CONFIG, legacy=False)
LLAMA3_TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<|begin_of_text|>",
    "eos_token": "<|end_of_text|>",
    "clean_up_tokenization_spaces": False,
    "model_input_names": ["input_ids", "attention_mask"],
    "model_max_length": 64,
}

LLAMA_NOTE = (
    "transformers 5.23's LlamaTokenizer (LlamaTokenizerFast) keeps only the vocabulary, merges, added tokens and "
    "post_processor of tokenizer.json and rebuilds the rest from its class: no normalizer, pre_tokenizer "
    "Metaspace(prepend_scheme 'always' when tokenizer_config's legacy is true, else 'first', split false). "
    "Metaspace does not prepend '▁' to a segment that already starts with one, where the Prepend normalizer "
    "of this file always does: so a text (or a segment after a special token) that begins with a space gets "
    "one '▁' fewer from transformers. The ids follow the file, as `tokenizers` and SentencePiece do.")

# Strings added to make_fixtures.py's TRICKY_STRINGS: the new tokenizers' special tokens and pre-tokenizers.
EXTRA_STRINGS = [
    # whitespace runs and line ends
    "\t", "\r", "\r\n", "a\r\n\r\nb", "  two leading spaces", "trailing tab\t", "x\n\n\n\ny", "    indented code",
    "a   \n\tb", "  ",
    # accents: stacked marks, precomposed vs decomposed in one string
    "a\u0308\u0304 o\u0303", "é vs e\u0301", "Å vs A\u030a",
    # emoji: ZWJ, keycap, tag sequence, more flags
    "👩\u200d💻 coder", "1\ufe0f\u20e3 keycap", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "🇺🇸🇯🇵", "😀😃😄", "\U0001d573\U0001d58a\U0001d591\U0001d591\U0001d594",
    # CJK that byte fallback has to spell out
    "日本語のテキスト", "光 and 灯台", "漢字かなカナ",
    # numbers: long runs split in threes by Llama-3's \p{N}{1,3}
    "1234567890123", "3.14159265358979", "2024-01-01T12:00:00Z", "+1 (555) 010-9999", "1,000,000.00",
    # contractions, uppercase and mixed
    "I'M YOU'LL SHE'D THEY'RE WE'VE IT'S DON'T", "She's you're I've they'd we'll I'm can't",
    "The ship's log", "'S 'T 'RE 'VE 'M 'LL 'D", "'s't're've'm'll'd",
    # literal special tokens of every family, and look-alikes
    EOT, f"a{EOT}b", f"{EOT}{EOT}", f" {EOT} ", "<|endoftext|", "<s>Hello</s>", "</s>a", "<s> <s>", "<unk>",
    "<|begin_of_text|>Hello", "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|begin_of_text|", "<0x41> is not a byte", "▁ literal metaspace", "Hello ▁world", "▁▁",
]
# Strings whose Llama-3-style encoding depends on ignore_merges (see LLAMA3_WHOLE_WORDS).
IGNORE_MERGES_STRINGS = ["The lighthouse sounded its foghorn.", "lighthouse Lighthouse  lighthouse"]
EXTRA_STRINGS += IGNORE_MERGES_STRINGS


# ---------------------------------------------------------------------------------------------------------
# Tokenizers

def train_bpe(pre_tokenizer, vocab_size, special_tokens=(), initial_alphabet=(), limit_alphabet=None, **model):
    tok = Tokenizer(models.BPE(**model))
    tok.pre_tokenizer = pre_tokenizer
    extra = {} if limit_alphabet is None else {"limit_alphabet": limit_alphabet}
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(special_tokens),
                                  initial_alphabet=list(initial_alphabet), show_progress=False, **extra)
    tok.train([str(CORPUS)], trainer)
    model_json = json.loads(tok.to_str())["model"]
    vocab = model_json["vocab"]
    assert len(vocab) == vocab_size, f"the corpus gave {len(vocab)} tokens, wanted {vocab_size}"
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]
    return vocab, merges


def gpt2_tokenizer():
    """GPT-2's tokenizer.json layout, with <|endoftext|> appended after the trained vocabulary."""
    vocab, merges = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False), GPT2_VOCAB - 1,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    vocab = dict(vocab, **{EOT: len(vocab)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                               end_of_word_suffix="", fuse_unk=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.add_special_tokens([AddedToken(EOT, special=True, normalized=True)])
    return tok


def llama_vocab():
    """A SentencePiece-like BPE: merges never cross a "▁" word start, rare characters are left to bytes."""
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    # The LLAMA_ALPHABET most frequent characters, ties by code point. (The trainer's own limit_alphabet
    # breaks ties in hash order, which changes from run to run; characters of its initial_alphabet are
    # always kept, so giving it exactly these makes the choice deterministic.)
    text = CORPUS.read_text(encoding="utf-8")
    counts = Counter(text.replace(" ", "▁"))
    alphabet = sorted(counts, key=lambda c: (-counts[c], ord(c)))[:LLAMA_ALPHABET]
    vocab, merges = train_bpe(pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
                              LLAMA_VOCAB, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens,
                              initial_alphabet=alphabet, limit_alphabet=len(alphabet), unk_token="<unk>",
                              byte_fallback=True, fuse_unk=True)
    assert [vocab[t] for t in ["<unk>", "<s>", "</s>", "<0x00>", "<0xFF>"]] == [0, 1, 2, 3, 258]
    assert [t for t, i in sorted(vocab.items(), key=lambda kv: kv[1])][259:259 + len(alphabet)] == \
        sorted(alphabet), "the alphabet follows the byte tokens, sorted"
    return vocab, merges


def llama_model(vocab, merges):
    return models.BPE(vocab=vocab, merges=merges, dropout=None, unk_token="<unk>", fuse_unk=True,
                      byte_fallback=True)


def llama_post_processor():
    return processors.TemplateProcessing(single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1",
                                         special_tokens=[("<s>", 1)])


def llama_specials(tok):
    # Only these three are added tokens (the byte tokens are ordinary vocabulary, as in Llama-2's file).
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])


def llama_tokenizer(vocab, merges):
    """The exact Llama-2 / Mistral-v0.1 tokenizer.json layout."""
    tok = Tokenizer(llama_model(vocab, merges))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.post_processor = llama_post_processor()
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    llama_specials(tok)
    return tok


def llama_metaspace_tokenizer(vocab, merges):
    """The same vocabulary in the layout of newer conversions: a Metaspace pre-tokenizer, no normalizer."""
    tok = Tokenizer(llama_model(vocab, merges))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.post_processor = llama_post_processor()
    # transformers' LlamaConverter keeps the Llama-2 decoder in this layout (a Metaspace decoder would leave
    # byte-fallback tokens undecoded, as "<0x09>").
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    llama_specials(tok)
    return tok


def llama3_tokenizer():
    split = pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    vocab, merges = train_bpe(pre_tokenizers.Sequence([split, byte_level]), LLAMA3_VOCAB,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    vocab = dict(vocab)
    for word in LLAMA3_WHOLE_WORDS:
        assert word not in vocab
        vocab[word] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, fuse_unk=False, byte_fallback=False,
                               ignore_merges=True))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
    bos = LLAMA3_SPECIALS[0]
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, len(vocab))]),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_SPECIALS])
    assert tok.token_to_id(bos) == len(vocab)
    spec = json.loads(tok.to_str())
    spec["model"]["ignore_merges"] = False
    with_merges = Tokenizer.from_str(json.dumps(spec))
    for text in IGNORE_MERGES_STRINGS:
        assert tok.encode(text).ids != with_merges.encode(text).ids, text
    return tok


def save_tokenizer(tok, directory, config, legacy_files=False, string_merges=False):
    """string_merges: merges as "a b" strings, as files written before tokenizers 0.20 have them (GPT-2's,
    Llama-2's), rather than the current ["a", "b"] pairs. Both forms are in use."""
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"), pretty=True)
    if string_merges:
        path = directory / "tokenizer.json"
        spec = json.loads(path.read_text(encoding="utf-8"))
        assert all(" " not in a and " " not in b for a, b in spec["model"]["merges"])
        spec["model"]["merges"] = [f"{a} {b}" for a, b in spec["model"]["merges"]]
        path.write_text(json.dumps(spec, indent=2, ensure_ascii=False), encoding="utf-8")
        assert Tokenizer.from_file(str(path)).to_str() == tok.to_str()
    if legacy_files:
        tok.model.save(str(directory))  # vocab.json + merges.txt ("#version: 0.2" header)
    opt.write_json(directory / "tokenizer_config.json", config)


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")


def copy_tokenizer(src, dst):
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


def write_json_rows(path, obj):
    """JSON with one line per element of the top-level lists (the case lists would be long otherwise)."""
    items = []
    for key, value in obj.items():
        if isinstance(value, list) and value:
            rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in value)
            items.append(f" {json.dumps(key)}: [\n{rows}\n ]")
        else:
            items.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{\n" + ",\n".join(items) + "\n}\n", encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == obj


def tokenizer_cases(name, tok_dir, strings, invalid_byte_ids=None, check=None, note=None):
    """Encodes by `tokenizers` on tokenizer.json; compares with transformers' AutoTokenizer on the directory."""
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    cases, differences = [], []
    for text in strings:
        ids = tok.encode(text, add_special_tokens=True).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        case = {
            "text": text,
            "ids": ids,
            "ids_no_special": plain,
            "tokens": [tok.id_to_token(i) for i in ids],
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_no_special": tok.decode(plain, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        }
        if check is not None:
            check(text, case)
        hf_case = {
            "ids": hf(text)["input_ids"],
            "ids_no_special": hf(text, add_special_tokens=False)["input_ids"],
            "decoded": hf.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False),
            "decoded_no_special": hf.decode(plain, skip_special_tokens=False, clean_up_tokenization_spaces=False),
        }
        diff = {k: v for k, v in hf_case.items() if v != case[k]}
        if diff:
            differences.append({"text": text, **{f"transformers_{k}": v for k, v in diff.items()}})
        cases.append(case)
    decodes = []
    for seq in invalid_byte_ids or []:
        decodes.append({"ids": seq, "tokens": [tok.id_to_token(i) for i in seq],
                        "decoded": tok.decode(seq, skip_special_tokens=False)})
    result = {
        "about": f"Encodings by tokenizers {opt.PINNED['tokenizers']} (Tokenizer.from_file) of "
                 f"{tok_dir.relative_to(OUT)}/tokenizer.json. ids: add_special_tokens=True; ids_no_special: "
                 "False; decoded*: decode(..., skip_special_tokens=False) of ids / ids_no_special, and "
                 "decode(ids, skip_special_tokens=True). transformers_differences lists where transformers' "
                 f"AutoTokenizer ({type(hf).__name__}) on the directory gives something else.",
        "tokenizer": str((tok_dir / "tokenizer.json").relative_to(OUT)),
        "transformers_class": type(hf).__name__,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "special_tokens": {t.content: i for i, t in sorted(tok.get_added_tokens_decoder().items())},
        "cases": cases,
        "transformers_differences": differences,
    }
    if note:
        result["transformers_note"] = note
    if invalid_byte_ids is not None:
        result["invalid_utf8_decodes"] = decodes
    write_json_rows(REF / f"tokenizer_cases.{name}.json", result)
    return tok, hf, differences


def make_tokenizers():
    strings = list(dict.fromkeys(opt.TRICKY_STRINGS + EXTRA_STRINGS))
    out = {}

    # GPT-2
    gpt2_dir = OUT / "tiny-gpt2"
    gpt2 = gpt2_tokenizer()
    save_tokenizer(gpt2, gpt2_dir, GPT2_TOKENIZER_CONFIG, legacy_files=True, string_merges=True)
    vocab = json.loads((gpt2_dir / "vocab.json").read_text(encoding="utf-8"))
    merges = [line for line in (gpt2_dir / "merges.txt").read_text(encoding="utf-8").split("\n")
              if line and not line.startswith("#version")]
    assert vocab[EOT] == len(vocab) - 1 == GPT2_VOCAB - 1
    ref = opt.ReferenceBPE(vocab, merges, special=[EOT], bos=EOT)

    def check_gpt2(text, case):
        assert case["ids"] == case["ids_no_special"] == ref.encode(text, add_bos=False), text
        assert case["decoded"] == text, (text, case["decoded"])

    byte_encoder = opt.bytes_to_unicode()
    invalid = [[vocab[byte_encoder[b]] for b in seq] for seq in opt.DECODE_BYTES]
    _, hf, diff = tokenizer_cases("gpt2", gpt2_dir, strings, invalid, check_gpt2)
    assert type(hf).__name__ == "GPT2Tokenizer" and not diff, diff
    # transformers gives the same from vocab.json + merges.txt alone (no tokenizer.json)
    only_files = OUT / "_gpt2_files_only"
    only_files.mkdir()
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(gpt2_dir / name, only_files / name)
    hf_files = AutoTokenizer.from_pretrained(str(only_files))
    for text in strings:
        assert hf_files(text)["input_ids"] == hf(text)["input_ids"], text
    shutil.rmtree(only_files)
    out["gpt2"] = gpt2_dir

    # Llama-2 layout and the Metaspace layout: one vocabulary
    lvocab, lmerges = llama_vocab()
    llama_dir = OUT / "tiny-llama"
    save_tokenizer(llama_tokenizer(lvocab, lmerges), llama_dir, LLAMA_TOKENIZER_CONFIG, string_merges=True)
    meta_dir = OUT / "tiny-llama-metaspace"
    save_tokenizer(llama_metaspace_tokenizer(lvocab, lmerges), meta_dir, LLAMA_METASPACE_TOKENIZER_CONFIG)
    byte_id = lambda b: 3 + b  # noqa: E731  <0xNN> is id 3 + NN
    invalid = [[byte_id(b) for b in seq] for seq in opt.DECODE_BYTES]
    invalid.append([byte_id(0xE7), lvocab["▁a"] if "▁a" in lvocab else lvocab["a"], byte_id(0x81)])
    _, _, diff = tokenizer_cases("llama", llama_dir, strings, invalid, note=LLAMA_NOTE)
    # Only where a segment starts with a space or "▁" (see LLAMA_NOTE).
    assert diff and all(opt.regex.search(r"(^|<s>|</s>|<unk>)[ ▁]", d["text"]) for d in diff), diff
    _, _, diff = tokenizer_cases("llama-metaspace", meta_dir, strings, invalid)
    assert not diff, diff
    out["llama"] = llama_dir

    # Llama-3 style
    l3_dir = OUT / "tokenizers" / "llama3-style"
    l3 = llama3_tokenizer()
    save_tokenizer(l3, l3_dir, LLAMA3_TOKENIZER_CONFIG)
    l3_vocab = l3.get_vocab(with_added_tokens=False)
    invalid = [[l3_vocab[byte_encoder[b]] for b in seq] for seq in opt.DECODE_BYTES]
    _, _, diff = tokenizer_cases("llama3-style", l3_dir, strings, invalid)
    assert not diff, diff
    return out


# ---------------------------------------------------------------------------------------------------------
# Models

def perturb(model, fan_in_dim, embed_std):
    """HF's init leaves norms at 1/0 and biases at 0 and scales weights by 0.02, which would hide transposed
    or misplaced parameters; give every parameter a distinct, well-scaled random value instead."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("ln_" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            elif "wte" in name or "wpe" in name or "embed" in name:
                p.copy_(embed_std * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / p.shape[fan_in_dim] ** 0.5)


def make_gpt2(vocab_size, eot):
    torch.manual_seed(3)
    config = GPT2Config(vocab_size=vocab_size, bos_token_id=eot, eos_token_id=eot, **GPT2_ARCH)
    config._attn_implementation = ATTN
    model = GPT2LMHeadModel(config)
    perturb(model, fan_in_dim=0, embed_std=0.3)  # Conv1D weights are [in, out]
    assert model.lm_head.weight is model.transformer.wte.weight
    return model.eval()


def make_llama(vocab_size):
    torch.manual_seed(4)
    config = LlamaConfig(vocab_size=vocab_size, **LLAMA_ARCH)
    config._attn_implementation = ATTN
    model = LlamaForCausalLM(config)
    # Small embeddings, as real Llamas have: the first RMSNorm then depends on rms_norm_eps.
    perturb(model, fan_in_dim=1, embed_std=0.02)
    assert model.lm_head.weight is not model.model.embed_tokens.weight
    return model.eval()


def clone_model(model, dtype_round=None):
    """An fp32 copy; with dtype_round, its weights rounded to that dtype and back."""
    clone = type(model)(model.config)
    state = model.state_dict()
    if dtype_round is not None:
        state = {k: v.to(dtype_round).float() for k, v in state.items()}
    clone.load_state_dict(state)
    return clone.eval()


def shifted_ce(logits, ids, reduction):
    return torch.nn.functional.cross_entropy(logits[0, :-1].double(), ids[0, 1:], reduction=reduction).item()


def padded_batch(tok, pad_id):
    rows = [tok(t)["input_ids"] for t in PADDED_TEXTS]
    width = max(map(len, rows))
    input_ids = [[pad_id] * (width - len(r)) + r for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    # As generate(): positions count the real tokens; pad positions get 1 (their value does not matter).
    m = torch.tensor(mask)
    position_ids = (m.cumsum(-1) - 1).masked_fill(m == 0, 1)
    return rows, torch.tensor(input_ids), m, position_ids


def record_reference(name, model, ids, tok, pad_id, full=True, about=None):
    """full=False (the half-precision twins): logits and losses only."""
    REF.mkdir(parents=True, exist_ok=True)
    input_ids = torch.tensor([ids])
    v = model.config.vocab_size
    T = len(ids)

    model.zero_grad()
    out = model(input_ids=input_ids, labels=input_ids)
    logits = out.logits.detach().clone()
    out.loss.backward()
    grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()}
    model.zero_grad()
    loss_sum = shifted_ce(logits, input_ids, "sum")
    loss_mean = shifted_ce(logits, input_ids, "mean")
    assert abs(loss_mean - out.loss.item()) < 1e-5, (loss_mean, out.loss.item())
    info = {
        "text": FORWARD_TEXT,
        "input_ids": ids,
        "vocab_size": v,
        "loss_mean": loss_mean,
        "loss_sum": loss_sum,
        "loss_positions": T - 1,
    }
    if about:
        info["about"] = about
    info["attention_implementation"] = ATTN
    if not full:
        save_file({"logits": logits.contiguous()}, str(REF / f"{name}.outputs.safetensors"),
                  metadata={"text": FORWARD_TEXT})
        opt.write_json(REF / f"{name}.json", info)
        return logits, None

    # Plain SGD (no momentum, no weight decay) on the mean loss of the same sequence, from a fresh copy.
    sgd_model = clone_model(model)
    opt_ = torch.optim.SGD(sgd_model.parameters(), lr=SGD_LR)
    losses = []
    for _ in range(SGD_STEPS):
        opt_.zero_grad()
        loss = sgd_model(input_ids=input_ids, labels=input_ids).loss
        losses.append(loss.item())
        loss.backward()
        opt_.step()
    with torch.no_grad():
        after = sgd_model(input_ids=input_ids, labels=input_ids)
    assert after.loss.item() < losses[0], "SGD should lower the loss on its own sequence"

    # Dynamic evaluation: SGD on the summed loss of the first half of the targets, then the summed loss of
    # the second half. Targets are input_ids[1:]; logits position t predicts input_ids[t + 1].
    split = (T - 1) // 2
    dyn_model = clone_model(model)
    dyn_opt = torch.optim.SGD(dyn_model.parameters(), lr=DYN_LR)
    lp = torch.nn.functional.cross_entropy

    def part_losses(m):
        lg = m(input_ids=input_ids).logits[0]
        return (lp(lg[:split], input_ids[0, 1:split + 1], reduction="sum"),
                lp(lg[split:T - 1], input_ids[0, split + 1:], reduction="sum"))

    with torch.no_grad():
        train_before, eval_before = part_losses(dyn_model)
    train_losses = []
    for _ in range(DYN_STEPS):
        dyn_opt.zero_grad()
        train_loss, _ = part_losses(dyn_model)
        train_losses.append(train_loss.item())
        train_loss.backward()
        dyn_opt.step()
    with torch.no_grad():
        train_after, eval_after = part_losses(dyn_model)
    assert train_after.item() < train_before.item()

    # Padded batch: two rows of different length, left-padded.
    rows, p_ids, p_mask, p_pos = padded_batch(tok, pad_id)
    with torch.no_grad():
        padded = model(input_ids=p_ids, attention_mask=p_mask, position_ids=p_pos).logits.clone()
        padded_default = model(input_ids=p_ids, attention_mask=p_mask).logits.clone()
        for r, row in enumerate(rows):
            single = model(input_ids=torch.tensor([row])).logits[0]
            diff = (padded[r, -len(row):] - single).abs().max().item()
            assert diff < 1e-5, (name, r, diff)
    padded[p_mask == 0] = 0
    padded_default[p_mask == 0] = 0

    tensors = {"logits": logits.contiguous(), "sgd_logits": after.logits.contiguous(),
               "padded_logits": padded.contiguous(),
               "padded_logits_default_positions": padded_default.contiguous()}
    save_file(tensors, str(REF / f"{name}.outputs.safetensors"), metadata={"text": FORWARD_TEXT})
    save_file(grads, str(REF / f"{name}.gradients.safetensors"),
              metadata={"loss": "mean cross-entropy over the T-1 shifted positions (HF labels=input_ids)"})
    tied = model.config.tie_word_embeddings
    info.update({
        "gradients_of": "loss_mean",
        "tied_embeddings": ("lm_head.weight is transformer.wte.weight (not in the checkpoint); its gradient "
                            "holds both uses") if tied else "lm_head.weight is its own parameter",
        "sgd": {"lr": SGD_LR, "steps": SGD_STEPS, "momentum": 0.0, "weight_decay": 0.0,
                "loss": "mean cross-entropy over all T-1 targets",
                "losses_before_each_step": losses, "loss_after": after.loss.item()},
        "dynamic_eval": {
            "about": "From the original weights: plain SGD (no momentum, no weight decay) on all parameters, "
                     "on the SUMMED cross-entropy of the train targets; forward passes see the whole sequence "
                     "(the same as the prefix, the model being causal). Logits position t predicts "
                     "input_ids[t+1]; train targets are input_ids[1..split], eval targets "
                     "input_ids[split+1..T-1].",
            "split": split, "train_targets": split, "eval_targets": T - 1 - split,
            "lr": DYN_LR, "steps": DYN_STEPS, "momentum": 0.0, "weight_decay": 0.0, "loss": "sum",
            "train_loss_sum_before_each_step": train_losses,
            "train_loss_sum_after": train_after.item(),
            "eval_loss_sum_before": eval_before.item(),
            "eval_loss_sum_after": eval_after.item(),
        },
        "padded_batch": {
            "about": "Rows are the texts' encodings left-padded with pad_token_id. padded_logits: "
                     "model(input_ids, attention_mask, position_ids) with position_ids counting real tokens "
                     "(cumsum(mask)-1, 1 at pads, as generate() makes them), so each row's real positions "
                     "equal the row run alone (checked to 1e-5). padded_logits_default_positions: "
                     "model(input_ids, attention_mask) without position_ids, i.e. positions 0..P-1 in every "
                     "row. Logits at positions where attention_mask is 0 are set to 0 (undefined).",
            "texts": PADDED_TEXTS,
            "pad_token_id": pad_id,
            "input_ids": p_ids.tolist(),
            "attention_mask": p_mask.tolist(),
            "position_ids": p_pos.tolist(),
        },
    })
    opt.write_json(REF / f"{name}.json", info)
    return logits, padded


def check_loads(model_dir, logits, ids, tol, dtype=torch.float32, padded=None, p_inputs=None):
    """transformers loads the directory (default attention) and gives the recorded logits."""
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype).float().eval()
    with torch.no_grad():
        got = model(input_ids=torch.tensor([ids])).logits
    diff = (got - logits).abs().max().item()
    assert diff <= tol, (model_dir.name, diff)
    if padded is not None:
        p_ids, p_mask, p_pos = p_inputs
        with torch.no_grad():
            got = model(input_ids=p_ids, attention_mask=p_mask, position_ids=p_pos).logits
        got[p_mask == 0] = 0
        pdiff = (got - padded).abs().max().item()
        assert pdiff <= tol, (model_dir.name, pdiff)
    print(f"  {model_dir.name}: from_pretrained logits within {diff:.2e} of the reference")
    return model


def twin(name, model, dtype, tok_src, ids, tok, pad_id, family, forward):
    """A half-precision copy saved with save_pretrained; its reference is the rounded weights in fp32."""
    model_dir = OUT / name
    half = clone_model(model).to(dtype)
    half.save_pretrained(str(model_dir))
    copy_tokenizer(tok_src, model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["dtype"] == str(dtype).removeprefix("torch."), config.get("dtype")
    up = clone_model(model, dtype_round=dtype)
    logits, _ = record_reference(
        name, up, ids, tok, pad_id, full=False,
        about=f"Reference for {name}: the {family} fp32 model with every weight rounded to {dtype} and "
              "upcast back to float32 (what a loader converting to Float must produce).")
    check_loads(model_dir, logits, ids, 1e-5, dtype=torch.float32)
    check_independent(forward, model_dir, ids, logits)
    return logits


def load_checkpoint(model_dir):
    """The directory's model.safetensors as float64 tensors, read with safetensors alone."""
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        return {k: f.get_tensor(k).double() for k in f.keys()}


def gpt2_forward(model_dir, ids):
    """GPT-2 written out from config.json and the checkpoint, in float64: an independent check of what the
    fixtures ask of a port (Conv1D weights are [in, out]: y = x @ W + b; lm_head is wte)."""
    cfg = json.loads((model_dir / "config.json").read_text())
    w = load_checkpoint(model_dir)
    d, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd, T = d // nh, len(ids)
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (d,), w[p + ".weight"], w[p + ".bias"], eps)  # noqa
    conv1d = lambda x, p: x @ w[p + ".weight"] + w[p + ".bias"]  # noqa: E731
    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:T]
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}"
        q, k, v = conv1d(ln(x, p + ".ln_1"), p + ".attn.c_attn").split(d, dim=-1)  # q | k | v along out
        q, k, v = (t.view(T, nh, hd).transpose(0, 1) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + causal, dim=-1)
        x = x + conv1d((att @ v).transpose(0, 1).reshape(T, d), p + ".attn.c_proj")
        h = conv1d(ln(x, p + ".ln_2"), p + ".mlp.c_fc")
        h = 0.5 * h * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (h + 0.044715 * h ** 3)))  # gelu_new
        x = x + conv1d(h, p + ".mlp.c_proj")
    return (ln(x, "transformer.ln_f") @ w["transformer.wte.weight"].T)[None]


def llama_forward(model_dir, ids):
    """Llama written out from config.json (either form) and the checkpoint, in float64. RoPE rotates the two
    halves of each head (rotate_half, not interleaved pairs); query head h uses kv head h // (H / KV)."""
    cfg = json.loads((model_dir / "config.json").read_text())
    w = load_checkpoint(model_dir)
    theta = cfg["rope_parameters"]["rope_theta"] if "rope_parameters" in cfg else cfg["rope_theta"]
    d, nh, nkv, hd, eps = (cfg[k] for k in ("hidden_size", "num_attention_heads", "num_key_value_heads",
                                              "head_dim", "rms_norm_eps"))
    T = len(ids)
    rms = lambda x, p: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w[p + ".weight"]  # noqa: E731
    lin = lambda x, p: x @ w[p + ".weight"].T  # noqa: E731  nn.Linear: [out, in]
    inv_freq = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None]
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    rope = lambda t: t * cos + torch.cat([-t[..., hd // 2:], t[..., :hd // 2]], -1) * sin  # noqa: E731
    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms(x, p + ".input_layernorm")
        q = rope(lin(h, p + ".self_attn.q_proj").view(T, nh, hd).transpose(0, 1))
        k = rope(lin(h, p + ".self_attn.k_proj").view(T, nkv, hd).transpose(0, 1))
        v = lin(h, p + ".self_attn.v_proj").view(T, nkv, hd).transpose(0, 1)
        k, v = (t.repeat_interleave(nh // nkv, dim=0) for t in (k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + causal, dim=-1)
        x = x + lin((att @ v).transpose(0, 1).reshape(T, nh * hd), p + ".self_attn.o_proj")
        h = rms(x, p + ".post_attention_layernorm")
        x = x + lin(torch.nn.functional.silu(lin(h, p + ".mlp.gate_proj")) * lin(h, p + ".mlp.up_proj"),
                    p + ".mlp.down_proj")
    return (rms(x, "model.norm") @ w["lm_head.weight"].T)[None]


def check_independent(forward, model_dir, ids, logits, tol=2e-5):
    diff = (forward(model_dir, ids) - logits.double()).abs().max().item()
    assert diff < tol, (model_dir.name, diff)
    print(f"  {model_dir.name}: float64 forward written out here is within {diff:.2e} of the reference")


def sensitivity(model, ids, change):
    """Largest logit change when the config is altered: a port that ignores the setting fails."""
    config = copy.deepcopy(model.config)
    change(config)
    other = type(model)(config)
    other.load_state_dict(model.state_dict())
    other.eval()
    with torch.no_grad():
        return (other(input_ids=torch.tensor([ids])).logits -
                model(input_ids=torch.tensor([ids])).logits).abs().max().item()


def make_gpt2_models(tok_dir):
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    eot = tok.convert_tokens_to_ids(EOT)
    ids = tok(FORWARD_TEXT)["input_ids"]
    assert ids[0] != eot, "GPT-2 adds no BOS"
    model = make_gpt2(len(tok), eot)
    model_dir = OUT / "tiny-gpt2"
    model.save_pretrained(str(model_dir))
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["activation_function"] == "gelu_new", config
    logits, padded = record_reference("tiny-gpt2", model, ids, tok, pad_id=eot)
    p = padded_batch(tok, eot)[1:]
    check_loads(model_dir, logits, ids, 1e-5, padded=padded, p_inputs=p)

    # Every gradient is under its checkpoint name.
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    with safe_open(str(REF / "tiny-gpt2.gradients.safetensors"), "pt") as f:
        assert set(f.keys()) == names, set(f.keys()) ^ names

    # Legacy buffers in the checkpoint.
    legacy_dir = OUT / "tiny-gpt2-legacy"
    legacy_dir.mkdir()
    for name in ("config.json", "generation_config.json"):
        shutil.copy(model_dir / name, legacy_dir / name)
    copy_tokenizer(tok_dir, legacy_dir)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    n = model.config.n_positions
    for i in range(model.config.n_layer):
        state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n).contiguous()
        state[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(state, str(legacy_dir / "model.safetensors"), metadata={"format": "pt"})
    check_loads(legacy_dir, logits, ids, 1e-5)
    check_independent(gpt2_forward, model_dir, ids, logits)

    print("  gpt2 sensitivity: gelu instead of gelu_new %.2e, layer_norm_epsilon 1e-2 "
          "%.2e" % (sensitivity(model, ids, lambda c: setattr(c, "activation_function", "gelu")),
                    sensitivity(model, ids, lambda c: setattr(c, "layer_norm_epsilon", 1e-2))))

    for name, dtype in (("tiny-gpt2-f16", torch.float16), ("tiny-gpt2-bf16", torch.bfloat16)):
        half_logits = twin(name, model, dtype, tok_dir, ids, tok, eot, "tiny-gpt2", gpt2_forward)
        print(f"  {name}: rounding moved logits by {(half_logits - logits).abs().max().item():.2e}")


def v4_config(config):
    """The config.json transformers 4 wrote for the same model."""
    v4 = {}
    for k, val in config.items():
        if k == "rope_parameters":
            v4["rope_scaling"] = None
            v4["rope_theta"] = val["rope_theta"]
        elif k == "dtype":
            v4["torch_dtype"] = val
        elif k == "transformers_version":
            v4[k] = "4.46.3"
        else:
            v4[k] = val
    return dict(sorted(v4.items()))


def make_llama_models(tok_dir):
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    ids = tok(FORWARD_TEXT)["input_ids"]
    assert ids[0] == 1, "Llama's tokenizer adds <s>"
    model = make_llama(len(tok))
    model_dir = OUT / "tiny-llama"
    model.save_pretrained(str(model_dir))
    config = json.loads((model_dir / "config.json").read_text())
    assert config["rope_parameters"] == {"rope_type": "default", "rope_theta": 500.0}, config
    assert "rope_theta" not in config and config["tie_word_embeddings"] is False, config
    logits, padded = record_reference("tiny-llama", model, ids, tok, pad_id=0)
    p = padded_batch(tok, 0)[1:]
    check_loads(model_dir, logits, ids, 1e-5, padded=padded, p_inputs=p)
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    with safe_open(str(REF / "tiny-llama.gradients.safetensors"), "pt") as f:
        assert set(f.keys()) == names, set(f.keys()) ^ names

    v4_dir = OUT / "tiny-llama-v4config"
    v4_dir.mkdir()
    for name in ("model.safetensors", "generation_config.json"):
        shutil.copy(model_dir / name, v4_dir / name)
    copy_tokenizer(tok_dir, v4_dir)
    (v4_dir / "config.json").write_text(json.dumps(v4_config(config), indent=2) + "\n", encoding="utf-8")
    loaded = AutoConfig.from_pretrained(str(v4_dir))
    assert loaded.rope_parameters["rope_theta"] == 500.0, loaded.rope_parameters
    check_loads(v4_dir, logits, ids, 1e-5, padded=padded, p_inputs=p)
    check_independent(llama_forward, model_dir, ids, logits)
    check_independent(llama_forward, v4_dir, ids, logits)

    def theta(c):
        c.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}
    print("  llama sensitivity: rms_norm_eps 1e-6 %.2e, rope_theta 10000 %.2e" % (
        sensitivity(model, ids, lambda c: setattr(c, "rms_norm_eps", 1e-6)), sensitivity(model, ids, theta)))

    for name, dtype in (("tiny-llama-f16", torch.float16), ("tiny-llama-bf16", torch.bfloat16)):
        half_logits = twin(name, model, dtype, tok_dir, ids, tok, 0, "tiny-llama", llama_forward)
        print(f"  {name}: rounding moved logits by {(half_logits - logits).abs().max().item():.2e}")


def main():
    opt.check_versions()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    OUT.mkdir(parents=True, exist_ok=True)
    for entry in OUT.iterdir():  # start afresh, but keep the directory's README
        if entry.name != "README":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    toks = make_tokenizers()
    make_gpt2_models(toks["gpt2"])
    make_llama_models(toks["llama"])
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT.relative_to(ROOT)}: {total / 1024:.0f} kB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the committed OPT fixtures in Tests/OPTTests/Fixtures/.

Pinned versions (the script refuses to run with others, so the fixtures are reproducible):
    torch 2.13.0+cpu, transformers 5.23.0, tokenizers 0.23.3, safetensors 0.8.0, regex 2026.11.15

Setup, from the repository root:
    python3 -m venv .venv-fixtures
    .venv-fixtures/bin/pip install 'torch==2.13.0+cpu' 'transformers==5.23.0' 'tokenizers==0.23.3' \
        'safetensors==0.8.0' 'regex==2026.11.15'
    .venv-fixtures/bin/python Scripts/make_fixtures.py

What it writes (about 1.2 MB in all):
    tokenizer/                   byte-level BPE trained by `tokenizers` on Scripts/fixture_corpus.txt:
                                 vocab.json, merges.txt, tokenizer_config.json (OPT's special tokens)
    tokenizer_cases.json         encodings of tricky strings, checked against two implementations
                                 (the `tokenizers` backend of transformers' GPT2Tokenizer and a plain Python
                                 port of GPT-2's encoder.py with the `regex` module), and decodes of
                                 invalid UTF-8 byte sequences (transformers 5 has no Python "slow"
                                 GPT-2 tokenizer to compare with, hence the port)
    tiny-opt-pre-ln/             HF directory (config.json, model.safetensors, tokenizer files): pre-LN OPT
    tiny-opt-post-ln/            post-LN OPT (opt-350m style) with word_embed_proj_dim 16 != hidden_size 32
    tiny-opt-pre-ln-fp16/        fp16 copy of the pre-LN model, saved sharded (model.safetensors.index.json)
    tiny-opt-pre-ln-bf16.safetensors   bf16 copy of the pre-LN weights (one file)
    reference/<model>.json       text, token ids, mean and summed loss, SGD settings and losses
    reference/<model>.outputs.safetensors     logits [1, T, V] and logits after the SGD steps
    reference/<model>.gradients.safetensors   d(mean loss)/d(parameter) for every parameter
    safetensors/mixed.safetensors      written by the safetensors library: F64/F32/BF16/F16, an empty
                                       tensor, a scalar, escaped names, __metadata__ (writer byte-equality)
    safetensors/conversions.safetensors   torch's F16/BF16 <-> F32 conversions of special bit patterns

Everything runs in eval mode (no dropout), in float32, on one CPU thread, seeded.
"""

import json
import os
import shutil
import sys
from pathlib import Path

PINNED = {
    "torch": "2.13.0+cpu",
    "transformers": "5.23.0",
    "tokenizers": "0.23.3",
    "safetensors": "0.8.0",
    "regex": "2026.11.15",
}

import regex  # noqa: E402
import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import ByteLevelBPETokenizer  # noqa: E402
from transformers import AutoTokenizer, OPTConfig, OPTForCausalLM  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "Scripts" / "fixture_corpus.txt"
OUT = ROOT / "Tests" / "OPTTests" / "Fixtures"

VOCAB_SIZE = 640
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in OPT's vocabulary
# OPT's tokenizer_config.json: GPT-2 BPE that prepends </s> (its BOS) to every encoding.
TOKENIZER_CONFIG = {
    "tokenizer_class": "GPT2Tokenizer",
    "add_bos_token": True,
    "add_prefix_space": False,
    "bos_token": "</s>",
    "eos_token": "</s>",
    "unk_token": "</s>",
    "pad_token": "<pad>",
    "errors": "replace",
    "model_max_length": 64,
}

FORWARD_TEXT = ("The keeper counted the waves, and the light must never go dark. "
                "It's 12.5 degrees at noon.")
SGD_LR = 0.5
SGD_STEPS = 3

PRE_LN = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
              max_position_embeddings=64, do_layer_norm_before=True)
POST_LN = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
               max_position_embeddings=64, do_layer_norm_before=False, word_embed_proj_dim=16)


def check_versions():
    found = {
        "torch": torch.__version__, "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
        "regex": regex.__version__,
    }
    bad = {k: v for k, v in found.items() if v != PINNED[k]}
    if bad:
        sys.exit(f"version mismatch (found {bad}, pinned {PINNED}); see the header of {__file__}")


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------
# Tokenizer

def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


class ReferenceBPE:
    """GPT-2's encoder.py algorithm (regex pre-tokenisation, greedy lowest-rank merges), plus OPT's BOS
    and splitting on special tokens. An independent check on the `tokenizers` implementation."""

    def __init__(self, vocab, merges, special, bos):
        self.vocab = vocab
        self.ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
        self.special = sorted(special, key=len, reverse=True)
        self.bos = bos
        self.byte_encoder = bytes_to_unicode()

    def bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            pairs = {(parts[i], parts[i + 1]) for i in range(len(parts) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def split_special(self, text):
        out, start, i = [], 0, 0
        while i < len(text):
            hit = next((s for s in self.special if text.startswith(s, i)), None)
            if hit is None:
                i += 1
                continue
            if start < i:
                out.append((False, text[start:i]))
            out.append((True, hit))
            i += len(hit)
            start = i
        if start < len(text):
            out.append((False, text[start:]))
        return out

    def encode(self, text, add_bos=True):
        ids = [self.vocab[self.bos]] if add_bos else []
        for is_special, piece in self.split_special(text):
            if is_special:
                ids.append(self.vocab[piece])
                continue
            for word in GPT2_PATTERN.findall(piece):
                mapped = "".join(self.byte_encoder[b] for b in word.encode("utf-8"))
                ids.extend(self.vocab[t] for t in self.bpe(mapped))
        return ids


TRICKY_STRINGS = [
    "", " ", "a", "Hello world", " Hello world", "Hello  world", "   leading spaces",
    "trailing spaces   ", "tabs\tand\t\ttabs", "new\nlines\n\nand\r\nCRLF", "\n\n\n", "  \n  \n", "x  \n  y",
    "a \t b", "end with newline\n", " \u00a0 ",
    # accents and combining marks (precomposed and decomposed), marks with no base
    "café crème brûlée", "cafe\u0301", "Zoë Zoe\u0308", "e\u0301\u0301 double", "\u0301 leading mark",
    "naïve façade jalapeño", "Ångström",
    # emoji: plain, skin tone, ZWJ sequences, flags, variation selector
    "👍", "a👍b", "thumbs 👍🏽 up", "👨\u200d👩\u200d👧\u200d👦 family", "🇫🇷🇩🇪 flags", "🏳️\u200d🌈", "❤️ love",
    # CJK, Hangul, other scripts (letters with Mn/Mc marks)
    "灯台の光は一晩中消えなかった。", "中文 测试 文本", "한국어 텍스트", "Οι άνθρωποι στο λιμάνι",
    "Волны были высокими", "שלום עולם", "مرحبا بالعالم", "สวัสดีครับ", "नमस्ते दुनिया",
    # numbers: ASCII, separators, other digit systems, Nl and No categories
    "12.5 degrees", "1,234,567 and 3.14159", "the 3rd of October 1923", "٣٤٥ and ۱۲۳", "Ⅻ chapters",
    "½ cup, x² and H₂O", "0x1F 1e-3 -42",
    # contractions (case-sensitive in GPT-2's pattern)
    "don't won't it's we'll they've I'm you'd", "DON'T IT'S WE'LL", "'s at start", "rock 'n' roll",
    "''''", "it’s (curly)", "He'd've",
    # whitespace that is and is not \s (White_Space): NBSP, ideographic, line/paragraph separators, NEL,
    # zero-width space (Cf, not space), file separator (str.isspace but not White_Space), VT, FF
    "a\u00a0b", "a\u3000b", "a\u2028b\u2029c", "a\u0085b", "a\u200bb", "a\u001cb", "a\u000bb\u000cc",
    "a\u2003\u2003b", "\u3000\u3000",
    # punctuation and symbols
    "Hello!!! ... ??? (test) [x] {y} <z>", "$100 & 50% off #1 @user", "—em dash–en dash",
    "“smart quotes” ‘single’", "a/b\\c|d", "~~~ *** ___",
    # control characters
    "\x00\x01 bell\x07 del\x7f",
    # special tokens inside text (only </s> and <pad> are special for OPT)
    "a</s>b", "</s>", "<pad> padded", "<s> not special", "<unk> not special", "x </s> y",
    # long words and repeats
    "supercalifragilisticexpialidocious", "aaaaaaaaaaaaaaaaaaaa", "the the the the",
    # text like the training corpus
    "The lamp had to be trimmed twice a night.",
    "He wrote the temperature at noon (12.5 degrees in May, 19.75 in August).",
]

# Byte sequences decoded from single-byte tokens: invalid UTF-8 must become U+FFFD (errors="replace").
DECODE_BYTES = [
    [0xFF], [0x80], [0xC3], [0xE2, 0x82], [0xE2, 0x82, 0x41], [0xED, 0xA0, 0x80], [0xC0, 0x80],
    [0xF4, 0x90, 0x80, 0x80], [0x41, 0xF0, 0x9F, 0x98, 0x42], [0xC3, 0xA9], [0xF0, 0x9F, 0x91, 0x8D],
    [0xE0, 0x80, 0xAF], [0xF8, 0x88, 0x80, 0x80, 0x80], [0x61, 0xFE, 0xFE, 0x62],
]


def make_tokenizer():
    tok_dir = OUT / "tokenizer"
    tok_dir.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()  # add_prefix_space False, no normaliser: GPT-2 / OPT style
    bpe.train(files=[str(CORPUS)], vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIAL_TOKENS,
              show_progress=False)
    bpe.save_model(str(tok_dir))
    write_json(tok_dir / "tokenizer_config.json", TOKENIZER_CONFIG)

    vocab = json.loads((tok_dir / "vocab.json").read_text(encoding="utf-8"))
    merges = [line for line in (tok_dir / "merges.txt").read_text(encoding="utf-8").split("\n")
              if line and not line.startswith("#version")]
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3], "special tokens must have OPT's ids 0..3"

    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    assert type(hf).__name__ == "GPT2Tokenizer", type(hf)
    ref = ReferenceBPE(vocab, merges, special=["</s>", "<pad>"], bos="</s>")

    cases = []
    for text in TRICKY_STRINGS:
        ids = hf(text)["input_ids"]
        ids_plain = hf(text, add_special_tokens=False)["input_ids"]
        ref_ids = ref.encode(text)
        assert ids == ref_ids, f"tokenizers and reference BPE disagree on {text!r}: {ids} vs {ref_ids}"
        assert ids == [vocab["</s>"]] + ids_plain, text
        decoded = hf.decode(ids_plain, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        assert decoded == text, f"decode does not round-trip {text!r}: {decoded!r}"
        cases.append({
            "text": text,
            "ids": ids,
            "tokens": hf.convert_ids_to_tokens(ids),
            "decoded_with_bos": hf.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False),
            "decoded_skipping_special": hf.decode(ids, skip_special_tokens=True,
                                                  clean_up_tokenization_spaces=False),
        })

    byte_encoder = bytes_to_unicode()
    decodes = []
    for seq in DECODE_BYTES:
        ids = [vocab[byte_encoder[b]] for b in seq]
        text = hf.decode(ids, clean_up_tokenization_spaces=False)
        assert text == bytes(seq).decode("utf-8", errors="replace"), (seq, text)
        decodes.append({"bytes": seq, "ids": ids, "decoded": text})

    write_json(OUT / "tokenizer_cases.json", {
        "about": "Encodings by transformers' GPT2Tokenizer (tokenizers backend) of the fixture BPE, "
                 "identical to a Python port of GPT-2's encoder.py; ids start with </s> (OPT's BOS).",
        "bos_id": vocab["</s>"],
        "vocab_size": len(vocab),
        "cases": cases,
        "invalid_utf8_decodes": decodes,
    })
    return tok_dir, len(vocab)


# ---------------------------------------------------------------------------------------------------------
# Models

def make_model(arch, vocab_size, seed):
    torch.manual_seed(seed)
    config = OPTConfig(vocab_size=vocab_size, **arch)
    model = OPTForCausalLM(config)
    # HF's init leaves layer norms at 1/0 and biases at 0, which would hide transposed or misplaced
    # parameters; give every parameter a distinct, well-scaled random value instead.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias") or p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            elif "embed" in name:
                p.copy_(0.3 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / p.shape[1] ** 0.5)
    model.eval()  # no dropout: the outputs are deterministic
    return model


def copy_tokenizer(tok_dir, model_dir):
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(tok_dir / name, model_dir / name)


def record_reference(name, model, ids):
    ref_dir = OUT / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    input_ids = torch.tensor([ids])
    v = model.config.vocab_size

    model.zero_grad()
    out = model(input_ids=input_ids, labels=input_ids)
    logits = out.logits.detach().clone()
    out.loss.backward()
    grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()}
    shift = logits[0, :-1].double()
    targets = input_ids[0, 1:]
    loss_sum = torch.nn.functional.cross_entropy(shift, targets, reduction="sum").item()
    loss_mean = torch.nn.functional.cross_entropy(shift, targets, reduction="mean").item()
    assert abs(loss_mean - out.loss.item()) < 1e-5, (loss_mean, out.loss.item())

    # Plain SGD (no momentum, no weight decay) on the same sequence, from a fresh copy of the weights.
    sgd_model = make_model_from_state(model)
    opt = torch.optim.SGD(sgd_model.parameters(), lr=SGD_LR)
    losses = []
    for _ in range(SGD_STEPS):
        opt.zero_grad()
        loss = sgd_model(input_ids=input_ids, labels=input_ids).loss
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = sgd_model(input_ids=input_ids, labels=input_ids)
    assert after.loss.item() < losses[0], "SGD should lower the loss on its own sequence"

    save_file({"logits": logits.contiguous(), "sgd_logits": after.logits.contiguous()},
              str(ref_dir / f"{name}.outputs.safetensors"), metadata={"text": FORWARD_TEXT})
    save_file(grads, str(ref_dir / f"{name}.gradients.safetensors"),
              metadata={"loss": "mean cross-entropy over the T-1 shifted positions (HF labels=input_ids)"})
    write_json(ref_dir / f"{name}.json", {
        "text": FORWARD_TEXT,
        "input_ids": ids,
        "vocab_size": v,
        "loss_mean": loss_mean,
        "loss_sum": loss_sum,
        "loss_positions": len(ids) - 1,
        "gradients_of": "loss_mean",
        "tied_embeddings": "lm_head.weight is model.decoder.embed_tokens.weight; its gradient holds both uses",
        "sgd": {"lr": SGD_LR, "steps": SGD_STEPS, "momentum": 0.0, "weight_decay": 0.0,
                "losses_before_each_step": losses, "loss_after": after.loss.item()},
    })


def make_model_from_state(model):
    clone = OPTForCausalLM(model.config)
    clone.load_state_dict(model.state_dict())
    clone.eval()
    return clone


def make_models(tok_dir, vocab_size):
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    ids = tok(FORWARD_TEXT)["input_ids"]

    for name, arch, seed in (("tiny-opt-pre-ln", PRE_LN, 1), ("tiny-opt-post-ln", POST_LN, 2)):
        model = make_model(arch, vocab_size, seed)
        model_dir = OUT / name
        model.save_pretrained(str(model_dir))
        copy_tokenizer(tok_dir, model_dir)
        record_reference(name, model, ids)
        if name == "tiny-opt-pre-ln":
            state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
                     if k != "lm_head.weight"}
            save_file({k: v.to(torch.bfloat16) for k, v in state.items()},
                      str(OUT / "tiny-opt-pre-ln-bf16.safetensors"), metadata={"format": "pt"})
            half = make_model_from_state(model).half()
            half.save_pretrained(str(OUT / "tiny-opt-pre-ln-fp16"), max_shard_size="30KB")
            copy_tokenizer(tok_dir, OUT / "tiny-opt-pre-ln-fp16")


# ---------------------------------------------------------------------------------------------------------
# Raw safetensors fixtures

def f32_from_bits(bits):
    return torch.tensor(bits, dtype=torch.int32).view(torch.float32)


def make_safetensors_fixtures():
    st_dir = OUT / "safetensors"
    st_dir.mkdir(parents=True, exist_ok=True)
    mixed = {
        "b": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "a": torch.tensor([1.5, -2.0, 3.0]),
        "c": torch.tensor([1.0, 65504.0, -0.0], dtype=torch.float16),
        "d": torch.tensor([1.0, -3.5], dtype=torch.bfloat16),
        "e": torch.zeros(0, 3),
        "s": torch.tensor(7.0),
        "x\"\n\u00e9\u0001": torch.tensor([2.0, -0.125], dtype=torch.float64),
    }
    save_file(mixed, str(st_dir / "mixed.safetensors"), metadata={"format": "pt"})  # one key: the library orders keys by hash

    # Every F16 pattern class: zeros, subnormals, normals, max, infinities, NaNs (quiet and signalling).
    f16_bits = [0x0000, 0x8000, 0x0001, 0x8001, 0x0002, 0x03FF, 0x83FF, 0x0400, 0x0401, 0x3C00, 0xBC00,
                0x3C01, 0x3555, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7D55, 0x7FFF,
                0x1234, 0xC000, 0x5640]
    bf16_bits = [0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x0080, 0x3F80, 0xBF80, 0x3F81, 0x7F7F, 0xFF7F,
                 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0x7FFF, 0x4049, 0xC2F7]
    # Float32 values whose rounding to F16 / BF16 exercises ties, overflow and underflow.
    f32_bits = [0x00000000, 0x80000000, 0x3F800000, 0x3F801000, 0x3F802000, 0x3F803000, 0x3F800FFF,
                0x477FE000, 0x477FEFFF, 0x477FF000, 0x47800000, 0x7F7FFFFF, 0x33800000, 0x33000000,
                0x33000001, 0x337FFFFF, 0x33C00000, 0x387FC000, 0x387FE000, 0x38800000, 0x38000000,
                0x7F800000, 0xFF800000, 0x3F808000, 0x3F818000, 0x3F80C000, 0x3F807FFF, 0x7F7F8000,
                0x7F7F7FFF, 0x00000001, 0x00400000, 0xC2F6E979, 0x3E99999A, 0x42C80000]
    f16 = torch.tensor(f16_bits, dtype=torch.int32).to(torch.int16).view(torch.float16)
    bf16 = torch.tensor(bf16_bits, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    f32 = f32_from_bits([b - (1 << 32) if b >= 1 << 31 else b for b in f32_bits])
    save_file({
        "f16": f16, "f16_as_f32": f16.float(),
        "bf16": bf16, "bf16_as_f32": bf16.float(),
        "f32": f32, "f32_as_f16": f32.half(), "f32_as_bf16": f32.bfloat16(),
    }, str(st_dir / "conversions.safetensors"), metadata={"about": "torch 2.13 CPU conversions"})


def main():
    check_versions()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    tok_dir, vocab_size = make_tokenizer()
    make_models(tok_dir, vocab_size)
    make_safetensors_fixtures()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT.relative_to(ROOT)}: {total / 1024:.0f} kB")


if __name__ == "__main__":
    main()

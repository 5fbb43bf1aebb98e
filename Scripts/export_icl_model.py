#!/usr/bin/env python3
"""Ships the trained ICL model (Docs/DATA.md, "The model and the run"): the run directory's F32 weights
rounded to F16 (round to nearest even, Python's `struct` "e") into Scripts/icl_model/model.safetensors,
with the run's training.json beside the committed config and tokenizer. Standard library only.

    python3 Scripts/export_icl_model.py RUN_DIR [OUT_DIR]     # default OUT_DIR: Scripts/icl_model
"""
import json
import pathlib
import shutil
import struct
import sys


def read_safetensors(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name} is {entry['dtype']}, expected F32")
        start, end = entry["data_offsets"]
        count = (end - start) // 4
        tensors[name] = (entry["shape"], struct.unpack(f"<{count}f", body[start:end]))
    return tensors


def write_f16(tensors, path):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        blob = struct.pack(f"<{len(values)}e", *values)  # raises OverflowError beyond F16's range
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        chunks.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    run = pathlib.Path(sys.argv[1])
    out = pathlib.Path(sys.argv[2] if len(sys.argv) == 3 else "Scripts/icl_model")
    tensors = read_safetensors(run / "model.safetensors")
    write_f16(tensors, out / "model.safetensors")
    shutil.copyfile(run / "training.json", out / "training.json")
    print(f"{out / 'model.safetensors'}: {len(tensors)} tensors, "
          f"{sum(len(v) for _, v in tensors.values()):,} parameters in F16")


if __name__ == "__main__":
    main()

"""A synthetic pack of any size, for testing how the studio streams, caches, estimates and loads
packs of real size (issue 23): models/reference/flow-tiny with its student's weights in ONNX
external data, plus a weight table of the asked size split over one or more external-data files.
The student reads one entry of each table per call (an index from the timestep, so nothing can be
folded away at load) and adds it, times 1e-9 of a small pattern, to its prediction: its output
equals flow-tiny's to float32 precision, so flow-tiny's parity run checks the big pack too.

    /usr/bin/python3 -m models.training.synthetic_large_pack --out DIR --bytes 40e6 [--files 2]
        [--declare-only]

--declare-only writes the manifest declaring the sizes of files it does not write (placeholder
hashes): for the memory estimate's refusal, which happens before any download.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.training.reference_packs import DEFAULT_OUT

SOURCE = DEFAULT_OUT / "flow-tiny"
STUDENT = "student.onnx"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def write_table(path: Path, rows: int, part: int, declare_only: bool) -> dict:
    """Writes table `part` (float32 little-endian) block by block, hashing it. Returns its externalData
    entry; with `declare_only` writes nothing and declares the size with a placeholder hash."""
    if declare_only:
        return {"file": path.name, "sizeBytes": rows * 4, "sha256": "0" * 64}
    h = hashlib.sha256()
    block = 1 << 24
    with open(path, "wb") as f:
        for start in range(0, rows, block):
            t = table_block(start, min(rows, start + block), part)
            data = t.astype("<f4").tobytes()
            h.update(data)
            f.write(data)
    return {"file": path.name, "sizeBytes": rows * 4, "sha256": h.hexdigest()}


def table_block(start: int, stop: int, part: int) -> np.ndarray:
    t = (np.arange(start, stop, dtype=np.int64) * 7 + part) % 251
    return (t.astype(np.float32) - 125.0) * np.float32(1e-9)


def build(out: Path, total_bytes: int, files: int, declare_only: bool) -> dict:
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(SOURCE, out)
    model = onnx.load(str(SOURCE / STUDENT))
    g = model.graph
    pred = g.output[0].name
    # timestep [B] float → int64 index into each table (a graph input: nothing folds at load).
    nodes = [helper.make_node("Cast", ["timestep"], ["big_t"], to=TensorProto.INT64)]
    rows = max(1, total_bytes // 4 // files)
    added = []
    ext = []
    for k in range(files):
        name = f"big_table_{k}"
        location = f"student_weights_{k}.bin"
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[rows])
        for key, value in (("location", location), ("offset", "0"), ("length", str(rows * 4))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        t.data_location = TensorProto.EXTERNAL
        g.initializer.append(t)
        g.initializer.append(numpy_helper.from_array(np.array(rows, np.int64), f"big_rows_{k}"))
        nodes += [
            helper.make_node("Mod", ["big_t", f"big_rows_{k}"], [f"big_i_{k}"]),
            helper.make_node("Gather", [name, f"big_i_{k}"], [f"big_v_{k}"]),
        ]
        added.append(f"big_v_{k}")
        ext.append(write_table(out / location, rows, k, declare_only))
    g.initializer.append(numpy_helper.from_array(np.array([-1, 1, 1, 1, 1], np.int64), "big_shape"))
    total = added[0]
    for k, v in enumerate(added[1:], start=1):
        nodes.append(helper.make_node("Add", [total, v], [f"big_sum_{k}"]))
        total = f"big_sum_{k}"
    nodes += [
        helper.make_node("Reshape", [total, "big_shape"], ["big_b"]),
        helper.make_node("Add", [pred + "_raw", "big_b"], [pred]),
    ]
    # The student's last node now writes <pred>_raw.
    for n in g.node:
        for i, o in enumerate(n.output):
            if o == pred:
                n.output[i] = pred + "_raw"
    g.node.extend(nodes)
    student = out / STUDENT
    onnx.save_model(model, str(student))
    if not declare_only:
        onnx.checker.check_model(str(student))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["id"] = "flow-big"
    manifest["name"] = f"Flow matching with {total_bytes / 1e9:.2f} GB of synthetic weights (untrained)"
    den = manifest["graphs"]["denoisers"]["student"]
    den["file"] = STUDENT
    den["sizeBytes"] = student.stat().st_size
    den["sha256"] = sha256_file(student)
    den["externalData"] = ext
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bytes", type=float, required=True, help="total bytes of the weight tables")
    ap.add_argument("--files", type=int, default=1)
    ap.add_argument("--declare-only", action="store_true")
    args = ap.parse_args(argv)
    m = build(Path(args.out), int(args.bytes), args.files, args.declare_only)
    ext = m["graphs"]["denoisers"]["student"]["externalData"]
    print(f"{args.out}: {len(ext)} external-data file(s), {sum(e['sizeBytes'] for e in ext)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run an ONNX graph with onnxruntime-node at a chosen graph optimisation level and time it
(ort-run-timed.mjs beside this file); models.training.ort_node always runs at level 'all'.

    from models.training.tooncrafter.ort_timed import run_onnx_timed
    outputs, timing = run_onnx_timed("unet.onnx", feeds, level="disabled", repeats=5)
    # timing: {"createMs": …, "runMs": [first, …]}
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from models.training.ort_node import REPO

RUNNER = Path(__file__).resolve().parent / "ort-run-timed.mjs"
LEVELS = ("disabled", "basic", "extended", "all")
_DTYPES = {"float32": np.float32, "int64": np.int64}


class OrtSessionError(RuntimeError):
    """onnxruntime-node refused or failed the graph; the message holds ORT's own words."""


def run_onnx_timed(
    model_path: str | Path, feeds: dict[str, np.ndarray], level: str = "all", repeats: int = 1
) -> tuple[dict[str, np.ndarray], dict]:
    """Runs the graph `repeats` times on CPU at `level`; returns the last outputs and the timings."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {LEVELS}")
    with tempfile.TemporaryDirectory(prefix="ort-timed-") as tmp:
        d = Path(tmp)
        spec = {}
        for i, (name, arr) in enumerate(feeds.items()):
            a = np.asarray(arr)
            a = a.astype(np.float32) if a.dtype == np.float64 else a
            dtype = next((n for n, t in _DTYPES.items() if a.dtype == t), None)
            if dtype is None:
                raise TypeError(f"input {name}: dtype {a.dtype} (float32 and int64 only)")
            (d / f"in_{i}.bin").write_bytes(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes())
            spec[name] = {"dims": list(a.shape), "dtype": dtype, "file": f"in_{i}.bin"}
        (d / "inputs.json").write_text(json.dumps(spec))
        cmd = ["node", str(RUNNER), str(Path(model_path).resolve()), str(d), level, str(repeats)]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise OrtSessionError(f"onnxruntime-node ({level}) on {model_path}: {proc.stderr.strip()[-2000:]}")
        outs = json.loads((d / "outputs.json").read_text())
        outputs = {
            name: np.frombuffer((d / o["file"]).read_bytes(), dtype=_DTYPES[o["dtype"]]).reshape(o["dims"]).copy()
            for name, o in outs.items()
        }
        return outputs, json.loads((d / "timing.json").read_text())

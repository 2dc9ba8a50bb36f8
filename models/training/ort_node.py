"""Run ONNX graphs from Python through onnxruntime-node (scripts/ort-run.mjs), because Debian
ships no onnxruntime for Python and PyPI is out of reach. Used to check exports against PyTorch.

    from models.training.ort_node import run_onnx
    outputs = run_onnx("models/tiny/decoder.onnx", {"latent": np.zeros((1, 4, 16, 24), np.float32)})

Paths resolve against the repository root (this file's grandparent's parent), so it works from a
clean clone wherever it is called from; it needs `node` on PATH and `npm ci` done (node_modules).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "scripts" / "ort-run.mjs"

# ONNX Runtime tensor type name <-> numpy dtype (float16 travels as raw IEEE half bits).
_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "bool": np.bool_,
}


def _dtype_name(arr: np.ndarray) -> str:
    for name, dt in _DTYPES.items():
        if arr.dtype == dt:
            return name
    raise TypeError(f"unsupported dtype {arr.dtype}")


LEVELS = ("disabled", "basic", "extended", "all")


class OrtSessionError(RuntimeError):
    """onnxruntime-node refused or failed the graph; the message holds ORT's own words."""


def run_onnx_timed(
    model_path: str | Path,
    feeds: dict[str, np.ndarray],
    level: str = "all",
    repeats: int = 1,
    optimized: str | Path | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Runs the model `repeats` times on CPU at graph optimisation `level`; returns the last run's
    outputs and the timings {"createMs": …, "runMs": [first, …]}. float64 inputs are sent as
    float32, other dtypes as they are. `optimized`: where to save the graph as ORT optimised it."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {LEVELS}")
    model_path = Path(model_path)
    if not model_path.is_absolute():
        model_path = Path.cwd() / model_path
    with tempfile.TemporaryDirectory(prefix="ort-run-") as tmp:
        d = Path(tmp)
        spec = {}
        for i, (name, arr) in enumerate(feeds.items()):
            a = np.asarray(arr)
            if a.dtype == np.float64:
                a = a.astype(np.float32)
            a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
            (d / f"in_{i}.bin").write_bytes(a.tobytes())
            spec[name] = {"dims": list(a.shape), "dtype": _dtype_name(a), "file": f"in_{i}.bin"}
        (d / "inputs.json").write_text(json.dumps(spec))
        cmd = ["node", str(RUNNER), str(model_path.resolve()), str(d), level, str(repeats)]
        if optimized is not None:
            cmd.append(str(Path(optimized).resolve()))
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise OrtSessionError(f"onnxruntime-node ({level}) failed on {model_path}: {proc.stderr.strip()[-2000:]}")
        outs = json.loads((d / "outputs.json").read_text())
        outputs = {
            name: np.frombuffer((d / o["file"]).read_bytes(), dtype=_DTYPES[o["dtype"]]).reshape(o["dims"]).copy()
            for name, o in outs.items()
        }
        return outputs, json.loads((d / "timing.json").read_text())


def run_onnx(model_path: str | Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runs the model once on CPU at the full optimisation level; see `run_onnx_timed`."""
    return run_onnx_timed(model_path, feeds)[0]

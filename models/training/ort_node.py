"""Run ONNX graphs from Python through onnxruntime-node (scripts/ort-run.mjs), because Debian
ships no onnxruntime for Python and PyPI is out of reach. Used to check exports against PyTorch."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "scripts" / "ort-run.mjs"


def run_onnx(model_path: str | Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="ort-run-") as tmp:
        d = Path(tmp)
        spec = {}
        for i, (name, arr) in enumerate(feeds.items()):
            a = np.ascontiguousarray(arr, dtype=np.float32)
            (d / f"in_{i}.bin").write_bytes(a.tobytes())
            spec[name] = {"dims": list(a.shape), "dtype": "float32", "file": f"in_{i}.bin"}
        (d / "inputs.json").write_text(json.dumps(spec))
        proc = subprocess.run(["node", str(RUNNER), str(Path(model_path).resolve()), str(d)],
                              cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"onnxruntime-node failed on {model_path}: {proc.stderr.strip()[-2000:]}")
        outs = json.loads((d / "outputs.json").read_text())
        return {name: np.frombuffer((d / o["file"]).read_bytes(), dtype=np.float32).reshape(o["dims"]).copy()
                for name, o in outs.items()}

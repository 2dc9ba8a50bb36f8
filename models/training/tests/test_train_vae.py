"""VAE training is seeded, checkpointed and resumes where it stopped."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "data"))
import procedural  # noqa: E402
from pack_model import Decoder, Encoder  # noqa: E402

SCRIPT = HERE.parent / "train_vae.py"


def _train(data: Path, run: Path, steps: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "--run", str(run), "--steps", str(steps),
                           "--batch", "2", "--crop", "64", "--ckpt-every", "2", "--threads", "1"],
                          capture_output=True, text=True, timeout=300)


def test_shapes():
    enc, dec = Encoder(), Decoder()
    mean, logvar = enc(torch.zeros(1, 3, 128, 192))
    assert mean.shape == logvar.shape == (1, 4, 16, 24)
    assert dec(mean).shape == (1, 3, 128, 192)


def test_resumes_from_checkpoint(tmp_path):
    procedural.build(tmp_path / "data", n_train=2, n_val=1)
    first = _train(tmp_path / "data", tmp_path / "run", 2)
    assert first.returncode == 0, first.stderr[-2000:]
    second = _train(tmp_path / "data", tmp_path / "run", 4)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stdout and "at step 2" in second.stdout
    rows = list(csv.DictReader(open(tmp_path / "run" / "vae_log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(r["val_psnr"] for r in rows if int(r["step"]) % 2 == 0)
    state = torch.load(tmp_path / "run" / "vae_last.pt")
    assert state["step"] == 4

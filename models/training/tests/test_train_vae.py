"""VAE training (encoder + keyframe-referencing decoder) is seeded, checkpointed and resumes."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import torch

from models.training.data import procedural

HERE = Path(__file__).resolve().parent

REPO = HERE.parents[2]


def _train(data: Path, run: Path, steps: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "models.training.train_vae",
            "--data",
            str(data),
            "--run",
            str(run),
            "--steps",
            str(steps),
            "--batch",
            "2",
            "--crop",
            "64",
            "--ckpt-every",
            "2",
            "--threads",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_resumes_from_checkpoint(tmp_path):
    procedural.build(tmp_path / "data", n_train=2, n_val=1, extra_taus=1)
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


def test_log_rows_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    from models.training.trainlib import CsvLog

    log = CsvLog(tmp_path / "log.csv", ["step", "loss"], 0)
    for s in range(1, 6):
        log.row({"step": s, "loss": 0.1})
    resumed = CsvLog(tmp_path / "log.csv", ["step", "loss"], 3)  # the checkpoint was at step 3
    resumed.row({"step": 4, "loss": 0.2})
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [(int(r["step"]), r["loss"]) for r in rows] == [(1, "0.1"), (2, "0.1"), (3, "0.1"), (4, "0.2")]

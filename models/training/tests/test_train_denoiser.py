"""The denoiser trainer: schedule matches the studio's sampler; training checkpoints and resumes."""
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
from diffusion import Schedule  # noqa: E402


def test_schedule_matches_the_published_values():
    # scripts/reference/ddim_reference.py (numpy, from the papers): SD's scaled-linear ᾱ_999.
    plain = Schedule(zero_terminal_snr=False)
    assert abs(plain.alphas_cumprod[999].item() - 0.004660098513077238) < 1e-7
    ztsnr = Schedule(zero_terminal_snr=True)
    assert ztsnr.alphas_cumprod[999].item() == 0.0
    assert abs(ztsnr.alphas_cumprod[0].item() - plain.alphas_cumprod[0].item()) < 1e-7


def test_v_target():
    s = Schedule()
    x0, noise = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    t = torch.tensor([0, 999])
    xt, v = s.noisy(x0, t, noise)
    ab = s.alphas_cumprod[t].view(-1, 1, 1, 1)
    # x0 is recovered from (x_t, v): x0 = sqrt(ᾱ) x_t − sqrt(1−ᾱ) v
    assert torch.allclose(ab.sqrt() * xt - (1 - ab).sqrt() * v, x0, atol=1e-5)


def test_trains_and_resumes(tmp_path):
    procedural.build(tmp_path / "data", n_train=3, n_val=2)
    vae = subprocess.run([sys.executable, str(HERE.parent / "train_vae.py"), "--data", str(tmp_path / "data"),
                          "--run", str(tmp_path / "vae"), "--steps", "1", "--batch", "1", "--crop", "64",
                          "--ckpt-every", "1", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert vae.returncode == 0, vae.stderr[-2000:]
    cmd = [sys.executable, str(HERE.parent / "train_denoiser.py"), "--data", str(tmp_path / "data"),
           "--vae", str(tmp_path / "vae" / "vae_last.pt"), "--run", str(tmp_path / "den"), "--batch", "2",
           "--crop", "8", "--width", "8", "--ckpt-every", "2", "--threads", "1"]
    first = subprocess.run(cmd + ["--steps", "2"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    second = subprocess.run(cmd + ["--steps", "4"], capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stdout and "at step 2" in second.stdout
    rows = list(csv.DictReader(open(tmp_path / "den" / "denoiser_log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    state = torch.load(tmp_path / "den" / "denoiser_last.pt")
    assert state["step"] == 4 and state["scale_factor"] > 0

"""tune_student.py: a few-step student trained through the pack decoder (tiny random models, real steps)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.training.cel_model import CelConfig, CelDenoiser, CelEncoder, FlowDecoder
from models.training.diffusion import Schedule
from models.training.flow_net import FlowNet
from models.training.latents import load_denoiser
from models.training.tune_student import main

DECODER_CONFIG = {"corr_radius": 2, "tone": True, "motion": True}


def write_clip(folder: Path, seed: int, size=(64, 96)) -> None:
    """A square moving across a smooth background: frame1, frame2 (τ ½), frame3 and one tau_ frame."""
    folder.mkdir(parents=True)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    base = np.stack([(xx * 2 + rng.integers(0, 60)) % 256, (yy * 3) % 256, np.full_like(xx, 90)], -1)
    for name, x in (("frame1", 10), ("frame2", 30), ("frame3", 50), ("tau_0.25", 20)):
        img = base.copy()
        img[20:40, x : x + 16] = (250, 40, 40)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{name}.png")


def make_fixture(tmp_path: Path) -> list[str]:
    torch.manual_seed(0)
    for i in range(2):
        write_clip(tmp_path / "set" / "train" / f"c{i}", i)
    torch.save({"enc": CelEncoder().state_dict()}, tmp_path / "vae.pt")
    cfg = CelConfig(widths=(16, 32, 32), emb_dim=32)
    student = CelDenoiser(cfg)
    state = {
        "ema": student.state_dict(),
        "model": student.state_dict(),
        "config": cfg.to_dict(),
        "scale_factor": 0.4,
        "step": 800,
        "note": "student: distilled on a GPU, 800 steps",
    }
    torch.save(state, tmp_path / "student.pt")
    dec = FlowDecoder(**DECODER_CONFIG)
    torch.save(
        {"ema": dec.state_dict(), "decoder_config": DECODER_CONFIG, "motion_net": FlowNet().state_dict()},
        tmp_path / "decoder.pt",
    )
    return [
        "--data",
        str(tmp_path / "set"),
        "--vae",
        str(tmp_path / "vae.pt"),
        "--student",
        str(tmp_path / "student.pt"),
        "--decoder",
        str(tmp_path / "decoder.pt"),
        "--batch",
        "2",
        "--crop",
        "8",
        "--lpips",
        "0",
        "--ckpt-every",
        "1",
        "--ema",
        "0",
    ]


def log_steps(run: Path) -> list[int]:
    with open(run / "tune_log.csv") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("grad_steps", [None, 2])
def test_sampling_with_grad_is_the_sampler_and_reaches_the_weights(grad_steps):
    """Autograd through every step, or (DRaFT-K) only through the last `grad_steps`, the steps before
    them run without it; the sample is the sampler's either way."""
    torch.manual_seed(1)
    model = CelDenoiser(CelConfig(widths=(16, 32, 32), emb_dim=32))
    s, e, noise = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    tau = torch.tensor([0.5])
    sched = Schedule()
    calls = []
    hook = model.register_forward_hook(lambda m, i, o: calls.append(o.requires_grad))
    z = sched.sample_with_grad(model, s, e, tau, 6, noise, grad_steps)
    hook.remove()
    assert calls == [False] * (6 - (grad_steps or 6)) + [True] * (grad_steps or 6)
    assert torch.equal(z.detach(), sched.sample(model, s, e, tau, 6, noise))
    z.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert sum(p.grad.abs().sum().item() for p in model.parameters()) > 0


def test_the_baseline_role_writes_the_denoiser_checkpoint_build_pack_reads(tmp_path):
    args = make_fixture(tmp_path)
    run = tmp_path / "run"
    tune = ["--role", "baseline", "--sample-steps", "5", "--grad-steps", "1", "--steps", "2", "--lr", "1e-3"]
    assert main(args + ["--run", str(run)] + tune) == 0
    assert not (run / "student_last.pt").exists()
    tuned, scale = load_denoiser(run / "denoiser_last.pt")
    before = torch.load(tmp_path / "student.pt")["ema"]
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items())
    state = torch.load(run / "denoiser_last.pt")
    assert state["step"] == 2 and state["base_step"] == 800
    assert state["note"].endswith(
        "then after the student was distilled from it, tuned 2 steps through the pack decoder, gradients through "
        "its last 1 of 5 DDIM steps (tune_student.py)"
    )


def test_the_student_trains_through_a_frozen_decoder_and_resumes(tmp_path):
    args = make_fixture(tmp_path)
    run = tmp_path / "run"
    assert main(args + ["--run", str(run), "--steps", "2", "--lr", "1e-3"]) == 0
    tuned, scale = load_denoiser(run / "student_last.pt")
    assert scale == 0.4
    before = torch.load(tmp_path / "student.pt")["ema"]
    after = tuned.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not (run / "decoder_last.pt").exists()  # the decoder stayed frozen
    assert log_steps(run) == [1, 2]
    assert main(args + ["--run", str(run), "--steps", "3", "--lr", "1e-3"]) == 0  # resumes at step 2
    assert log_steps(run) == [1, 2, 3]
    state = torch.load(run / "student_last.pt")
    assert state["step"] == 3 and state["base_step"] == 800  # build_pack states 803 steps and the note
    assert (
        state["note"]
        == "student: distilled on a GPU, 800 steps, then tuned 3 steps through the pack decoder (tune_student.py)"
    )


def test_with_a_decoder_rate_the_decoder_trains_too(tmp_path):
    args = make_fixture(tmp_path)
    run = tmp_path / "run"
    assert main(args + ["--run", str(run), "--steps", "2", "--lr", "1e-3", "--decoder-lr", "1e-3"]) == 0
    state = torch.load(run / "decoder_last.pt")
    assert state["decoder_config"] == DECODER_CONFIG and "motion_net" in state
    dec = FlowDecoder(**state["decoder_config"])
    dec.load_state_dict(state["ema"])  # train_decoder.py's format: build_pack and latent_ablation read it
    before = torch.load(tmp_path / "decoder.pt")["ema"]
    assert any(not torch.equal(before[k], v) for k, v in state["ema"].items())


def test_the_decoder_alone_learns_with_still_crops_and_the_prior_candidates(tmp_path):
    """--lr 0 freezes the sampler (it only samples); --prior-candidates widens the decoder, which trains
    alone and is saved with its new shape; --still-share makes crops still: one frame three times (no
    motion) or held outside a rectangle."""
    args = make_fixture(tmp_path)
    run = tmp_path / "run"
    common = ["--run", str(run), "--steps", "2", "--lr", "0", "--decoder-lr", "1e-3", "--still-share", "0.5"]
    with pytest.raises(SystemExit, match="nothing to train"):
        main(args + ["--run", str(run), "--lr", "0"])
    assert main(args + common + ["--prior-candidates"]) == 0
    state = torch.load(run / "decoder_last.pt")
    assert state["decoder_config"] == {**DECODER_CONFIG, "prior_candidates": True}
    dec = FlowDecoder(**state["decoder_config"])
    dec.load_state_dict(state["ema"])
    assert dec.out.weight.shape[1] == 3 + FlowDecoder.CANDIDATES + FlowDecoder.PRIOR_CANDIDATES
    assert "still" in state["note"] and "frozen student" in state["note"]
    before = torch.load(tmp_path / "student.pt")["ema"]
    after = torch.load(run / "student_last.pt")["ema"]
    assert all(torch.equal(before[k], v) for k, v in after.items())

    from models.training.tune_student import MotionCrops
    from models.training.flow_net import MotionGraph
    import random

    crops = MotionCrops([tmp_path / "set"], MotionGraph(FlowNet()).eval(), 8, random.Random(0), still=1.0)
    kinds = set()
    for _ in range(12):
        (s, m, e), flows, _tau = crops.item()
        if torch.equal(s, m) and torch.equal(s, e):
            kinds.add("still")
            assert flows.abs().max() == 0
        else:
            kinds.add("held")
            moved = ((s != e) | (s != m)).any(0)
            rows, cols = moved.any(1).nonzero(), moved.any(0).nonzero()
            # only one rectangle (at most half the 64-px crop a side) moves; outside it, the start frame
            assert int(rows.max() - rows.min()) + 1 <= 32 and int(cols.max() - cols.min()) + 1 <= 32
    assert kinds == {"still", "held"}

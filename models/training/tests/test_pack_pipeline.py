"""The whole training recipe on a few generated clips: VAE → denoiser → LoRA → student → decoder,
each stage resuming from its checkpoint, then build_pack.py exporting a pack that passes its own
checks and the studio's manifest schema, and from_pack.py reading that pack back exactly."""
from __future__ import annotations

import csv
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.training import motion_fusion
from models.training.data import procedural
from models.training.trainlib import FrameCache, to_float

HERE = Path(__file__).resolve().parent
T = HERE.parent
REPO = T.parents[1]


def module_run(module: str, *args: str) -> subprocess.CompletedProcess:
    """Runs `python3 -m models.training.<module> <args>` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", f"models.training.{module}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def tool(module: str, *args: str) -> subprocess.CompletedProcess:
    """`module_run`; must succeed."""
    proc = module_run(module, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def refusal(module: str, *args: str) -> str:
    """`module_run`; must fail. Returns what it said (stderr)."""
    proc = module_run(module, *args)
    assert proc.returncode != 0, proc.stdout[-3000:]
    return proc.stderr


def rebuilds_the_same(back: Path, pack: Path, again: Path, graphs: list[str]) -> None:
    """build_pack.py on the runs that from_pack.py read back from `pack` (in `back`) exports, into `again`,
    the same bytes for each of `graphs` as `pack` holds."""
    tool("build_pack", "--runs", str(back), "--out", str(again))
    for graph in graphs:
        assert (again / f"{graph}.onnx").read_bytes() == (pack / f"{graph}.onnx").read_bytes(), graph


def run(trainer: str, *args: str) -> subprocess.CompletedProcess:
    """Runs a trainer (or latent_ablation) on one thread; must succeed."""
    return tool(trainer, *args, "--threads", "1")


def lora_that_matters(src: Path, dst: Path) -> None:
    """Copies a LoRA checkpoint with its B matrices drawn at random: two training steps barely move the
    adapters, and the export's checks must be able to tell. One stream: identical tensors would be
    merged by the exporter."""
    state = torch.load(src)
    g = torch.Generator().manual_seed(0)
    for k, v in state["model"].items():
        if "lora_B" in k:
            v.normal_(0, 0.3, generator=g)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, dst)


def validate_with_studio(manifest: Path, tmp_path: Path) -> dict:
    """The studio's own manifest validation (src/core/manifest.ts) run on `manifest`."""
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    script = tmp_path / "validate.ts"
    script.write_text(
        "import { readFileSync } from 'node:fs';\n"
        f"import {{ parseManifest }} from {json.dumps((REPO / 'src' / 'core' / 'manifest.ts').as_posix())};\n"
        f"const r = parseManifest(readFileSync({json.dumps(manifest.as_posix())}, 'utf8'));\n"
        "console.log(JSON.stringify(r.ok ? { ok: true } : r));\n"
    )
    check = subprocess.run([str(tsx), str(script)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr[-2000:]
    return json.loads(check.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    procedural.build(root / "color", n_train=3, n_val=2, extra_taus=2)
    procedural.build(root / "lineart", n_train=2, n_val=1, base_seed=500, style="lineart", extra_taus=1)
    r = root / "runs"
    run(
        "train_vae",
        "--data",
        str(root / "color"),
        "--run",
        str(r / "vae"),
        "--steps",
        "1",
        "--batch",
        "1",
        "--crop",
        "64",
        "--ckpt-every",
        "1",
    )
    common = ["--vae", str(r / "vae" / "vae_last.pt"), "--batch", "2", "--ckpt-every", "2"]
    den = [
        "train_denoiser",
        "--data",
        str(root / "color"),
        "--run",
        str(r / "denoiser"),
        "--widths",
        "8,16,16",
        *common,
    ]
    run(*den, "--steps", "2")
    resumed = run(*den, "--steps", "4")
    assert "resumed from" in resumed.stdout and "at step 2" in resumed.stdout
    lora = [
        "train_lora",
        "--data",
        str(root / "lineart"),
        "--base",
        str(r / "denoiser" / "denoiser_last.pt"),
        "--run",
        str(r / "lora"),
        *common,
    ]
    run(*lora, "--steps", "2")
    assert "at step 2" in run(*lora, "--steps", "3").stdout
    stu = [
        "distill_student",
        "--data",
        str(root / "color"),
        "--teacher",
        str(r / "denoiser" / "denoiser_last.pt"),
        "--run",
        str(r / "student"),
        "--widths",
        "8,16,16",
        "--pixel-batch",
        "1",
        *common,
    ]
    run(*stu, "--steps", "2")
    assert "at step 2" in run(*stu, "--steps", "3").stdout
    dec = [
        "train_decoder",
        "--data",
        str(root / "color"),
        "--vae",
        str(r / "vae" / "vae_last.pt"),
        "--denoiser",
        str(r / "denoiser" / "denoiser_last.pt"),
        "--student",
        str(r / "student" / "student_last.pt"),
        "--run",
        str(r / "decoder"),
        "--baseline-steps",
        "2",
        "--student-steps",
        "1",
        "--crop",
        "8,8",
        "--batch",
        "2",
        "--ckpt-every",
        "2",
    ]
    run(*dec, "--steps", "2")
    assert "at step 2" in run(*dec, "--steps", "3").stdout
    return r


def test_stages_log_every_step_once(runs):
    for name, steps in [
        ("denoiser/denoiser_log.csv", 4),
        ("lora/lora_log.csv", 3),
        ("student/student_log.csv", 3),
        ("decoder/decoder_log.csv", 3),
    ]:
        rows = list(csv.DictReader(open(runs / name)))
        assert [int(r["step"]) for r in rows] == list(range(1, steps + 1)), name


def test_latent_cache_covers_every_frame(runs):
    cache = torch.load(runs / "denoiser" / "latents_train.pt")
    assert len(cache["clips"]) == 3 and cache["std"] > 0
    for c in cache["clips"].values():
        assert c["keys"].shape[0] == 2 and c["targets"].shape[0] == len(c["taus"]) == 3  # frame2 + 2 other τ
        assert c["taus"][0] == 0.5 and all(0.1 <= t <= 0.9 for t in c["taus"])


def test_denoiser_fine_tunes_from_a_checkpoint_on_several_sets(runs, tmp_path):
    """--init starts from a checkpoint's EMA weights, config and latent scale; --data takes several sets,
    each cached under its own name. With a learning rate of 0 one step leaves the weights as loaded."""
    root = runs.parent
    init = runs / "denoiser" / "denoiser_last.pt"
    run(
        "train_denoiser",
        "--data",
        f"{root / 'color'},{root / 'lineart'}",
        "--run",
        str(tmp_path / "ft"),
        "--vae",
        str(runs / "vae" / "vae_last.pt"),
        "--init",
        str(init),
        "--lr",
        "0",
        "--steps",
        "1",
        "--batch",
        "2",
        "--ckpt-every",
        "1",
    )
    assert (tmp_path / "ft" / "latents_train.pt").exists() and (tmp_path / "ft" / "latents_train_lineart.pt").exists()
    before, after = torch.load(init), torch.load(tmp_path / "ft" / "denoiser_last.pt")
    assert after["config"] == before["config"] and after["scale_factor"] == before["scale_factor"]
    assert all(torch.equal(after["ema"][k], v) for k, v in before["ema"].items())


def test_bf16_trains_the_denoiser_and_the_student_with_float32_weights(runs, tmp_path):
    """--bf16 (autocast to bfloat16 around the forward pass): the denoiser fine-tunes and the student
    distils, pixel term included, and what they save is float32, finite and moved by training."""
    root = runs.parent
    init = runs / "denoiser" / "denoiser_last.pt"
    common = ["--vae", str(runs / "vae" / "vae_last.pt"), "--batch", "2", "--ckpt-every", "2", "--bf16"]
    run(
        "train_denoiser",
        "--data",
        str(root / "color"),
        "--run",
        str(tmp_path / "den"),
        "--init",
        str(init),
        "--steps",
        "2",
        *common,
    )
    run(
        "distill_student",
        "--data",
        str(root / "color"),
        "--teacher",
        str(init),
        "--run",
        str(tmp_path / "stu"),
        "--widths",
        "8,16,16",
        "--pixel-batch",
        "1",
        "--steps",
        "2",
        *common,
    )
    before = torch.load(init)["ema"]
    den = torch.load(tmp_path / "den" / "denoiser_last.pt")
    assert den["step"] == 2
    for state in (den["model"], den["ema"], torch.load(tmp_path / "stu" / "student_last.pt")["model"]):
        assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in state.values())
    assert any(not torch.equal(den["model"][k], v) for k, v in before.items())


def test_bf16_autocast_computes_the_denoisers_function():
    """Under bfloat16 autocast the denoiser's output stays within a few percent of its float32 output (the
    GroupNorm layers normalise in float32), and a float32 input leaves GroupNorm exactly nn.GroupNorm."""
    from models.training.cel_model import CelConfig, CelDenoiser
    from models.training.layers import GroupNorm

    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8)
    norm = GroupNorm(4, 16)
    assert torch.equal(norm(x), torch.nn.functional.group_norm(x, 4, norm.weight, norm.bias, norm.eps))
    model = CelDenoiser(CelConfig(widths=(8, 16, 16))).eval()
    with torch.no_grad():
        for p in model.parameters():  # the output layer starts at a tenth: make the output sizeable
            p.add_(0.05 * torch.randn_like(p))
        z = [torch.randn(2, 4, 16, 16) for _ in range(3)]
        t, tau = torch.tensor([10.0, 700.0]), torch.tensor([0.5, 0.25])
        ref = model(z[0], t, z[1], z[2], tau)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(z[0], t, z[1], z[2], tau).float()
    assert ref.dtype == torch.float32 and ref.abs().mean() > 0.05
    assert (low - ref).abs().mean() < 0.03 * ref.abs().mean()


def test_latent_ablation_scores_four_latents_and_blend(runs):
    """latent_ablation.py decodes each validation clip from the true, sampled, keyframe-average and zero
    latents; its frame-blend row is the plain PSNR of the mean of the keyframes (8-bit files, crop to 8)."""
    root = runs.parent
    out = run("latent_ablation", "--runs", str(runs), "--data", str(root / "color"), "--limit", "2").stdout
    rows = ablation_rows(out)
    assert set(rows) == {"true latent", "baseline sample", "keyframe average", "zeros", "flow warp", "frame blend"}
    vals = []
    for clip in sorted((root / "color" / "val").iterdir())[:2]:
        f1, f2, f3 = (
            np.asarray(Image.open(clip / f"frame{i}.png").convert("RGB"), dtype=np.float64) / 127.5 - 1
            for i in (1, 2, 3)
        )
        h, w = f1.shape[0] // 8 * 8, f1.shape[1] // 8 * 8
        mse = (((f1 + f3) / 2 - f2)[:h, :w] ** 2).mean()
        vals.append(10 * math.log10(4 / mse))
    assert abs(rows["frame blend"] - sum(vals) / len(vals)) < 0.01


def ablation_rows(out: str) -> dict[str, float]:
    """latent_ablation.py's rows: name -> PSNR (dB); LPIPS-Alex, when printed, must be a number in [0, 1]."""
    found = re.findall(r"^\s+(.+?)\s+(-?[\d.]+) dB(?:  LPIPS-Alex ([\d.]+))?$", out, re.M)
    assert all(lp == "" or 0 <= float(lp) <= 1 for _, _, lp in found), out
    return {name: float(p) for name, p, _ in found}


def test_lora_trains_only_the_adapters_on_a_frozen_base(runs):
    base = torch.load(runs / "denoiser" / "denoiser_last.pt")["ema"]
    lora = torch.load(runs / "lora" / "lora_last.pt")
    assert lora["config"]["lora_rank"] == 16 and lora["config"]["lora_alpha"] == 16.0
    assert lora["config"]["lora_dropout"] == 0.1
    for k, v in base.items():
        assert torch.equal(lora["model"][k], v), f"{k} changed: the base must stay frozen"
    assert any("lora_B" in k and v.abs().max() > 0 for k, v in lora["model"].items())


def test_build_pack_exports_a_valid_checked_pack(runs, tmp_path):
    runs_copy = tmp_path / "runs"
    for stage in ("vae", "denoiser", "student", "decoder"):
        (runs_copy / stage).mkdir(parents=True)
        name = f"{stage}_last.pt"
        (runs_copy / stage / name).write_bytes((runs / stage / name).read_bytes())
    # A stage made outside the recipe (gpu_session.sh) says so in its checkpoint's note.
    student = torch.load(runs_copy / "student" / "student_last.pt")
    student["note"] = "student: distilled elsewhere, also on Synfig clips"
    torch.save(student, runs_copy / "student" / "student_last.pt")
    lora_that_matters(runs / "lora" / "lora_last.pt", runs_copy / "lora" / "lora_last.pt")
    out = tmp_path / "pack"
    assert "lora(0) vs baseline" in tool("build_pack", "--runs", str(runs_copy), "--out", str(out)).stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert [v["id"] for v in manifest["variants"]] == ["baseline", "lora", "fp16", "student"]
    assert manifest["graphs"]["decoder"]["inputs"] == {
        "latent": "latent",
        "startImage": "start_image",
        "endImage": "end_image",
    }
    assert validate_with_studio(out / "manifest.json", tmp_path) == {"ok": True}
    assert "decoder 3" in manifest["description"]
    assert "decoder 3. Student: distilled elsewhere, also on Synfig clips. See REPORT.md." in manifest["description"]
    assert "Synfig" in manifest["license"]

    # from_pack.py reads the pack back into PyTorch; exporting that again gives the same graphs.
    back = tmp_path / "back"
    tool("from_pack", "--pack", str(out), "--runs", str(back))
    assert torch.load(back / "decoder" / "decoder_last.pt")["step"] == 3
    again = tmp_path / "again"
    again.mkdir()
    rebuilds_the_same(back, out, again, ["encoder", "decoder", "denoiser_fp32", "denoiser_lora", "denoiser_student"])
    # …and says the same about how it was made (steps, the notes of stages made elsewhere, licence).
    rebuilt = json.loads((again / "manifest.json").read_text())
    assert (rebuilt["description"], rebuilt["license"]) == (manifest["description"], manifest["license"])


def test_a_tuned_baseline_is_the_packs_and_carries_the_lora(runs, tmp_path):
    """build_pack.py: runs/denoiser2 (tune_student.py --role baseline) is the pack's baseline, and the LoRA
    model's base weights are its (the adapters were trained on the untuned one), so the LoRA at 0 is the
    baseline; the description states both trainings' steps and the tuning's note."""
    from models.training.build_pack import load_models

    runs_copy = tmp_path / "runs"
    runs_copy.mkdir()
    for stage in ("vae", "denoiser", "lora", "student", "decoder"):
        (runs_copy / stage).symlink_to(runs / stage)
    den = torch.load(runs / "denoiser" / "denoiser_last.pt")
    tuned = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in den["ema"].items()}
    (runs_copy / "denoiser2").mkdir()
    note = "denoiser: trained, then tuned 5 steps through the pack decoder (tune_student.py)"
    torch.save(
        {**den, "ema": tuned, "step": 5, "base_step": den["step"], "note": note},
        runs_copy / "denoiser2" / "denoiser_last.pt",
    )
    models = load_models(runs_copy)
    assert all(torch.equal(models.baseline.state_dict()[k], v) for k, v in tuned.items())
    lora = models.lora.state_dict()
    assert all(torch.equal(lora[k], v) for k, v in tuned.items())
    assert all(
        torch.equal(lora[k.replace(".lora.", ".").replace(".base.", ".")], v) for k, v in lora.items() if ".base." in k
    )
    adapters = torch.load(runs / "lora" / "lora_last.pt")["model"]
    assert all(torch.equal(lora[k], adapters[k]) for k in adapters if "lora_" in k)
    assert models.steps["denoiser"] == den["step"] + 5 and note in models.steps["notes"]


def test_decoder_trains_on_several_sets_within_a_time_budget(runs, tmp_path):
    """train_decoder.py --data A,B caches each set's latents and samples under its own name and trains on
    both (here with the LPIPS-Alex term, when its weights are in ../shared); --minutes ends the run after
    the step in hand once the budget is spent (here: during caching)."""
    root = runs.parent
    alex = REPO.parent / "shared" / "data" / "lpips" / "lpips_alex_v0.1.safetensors"
    out = run(
        "train_decoder",
        "--data",
        f"{root / 'color'},{root / 'lineart'}",
        "--vae",
        str(runs / "vae" / "vae_last.pt"),
        "--denoiser",
        str(runs / "denoiser" / "denoiser_last.pt"),
        "--student",
        str(runs / "student" / "student_last.pt"),
        "--run",
        str(tmp_path / "dec"),
        "--baseline-steps",
        "2",
        "--student-steps",
        "1",
        "--crop",
        "8,8",
        "--batch",
        "2",
        "--steps",
        "50",
        "--minutes",
        "0.0001",
        "--lpips",
        "1",
        "--lpips-net",
        "alex",
    ).stdout
    assert ("perceptual term: LPIPS-alex × 1.0" if alex.exists() else "perceptual term: none") in out
    assert (tmp_path / "dec" / "samples_train.pt").exists() and (tmp_path / "dec" / "samples_train_lineart.pt").exists()
    assert (runs / "denoiser" / "latents_train_lineart.pt").exists()
    state = torch.load(tmp_path / "dec" / "decoder_last.pt")
    assert state["step"] == 1 and state["args"]["steps"] == 50
    assert [r["step"] for r in csv.DictReader(open(tmp_path / "dec" / "decoder_log.csv"))] == ["1"]
    # Every set but the procedural one is named in the checkpoint's note, which build_pack.py carries into
    # the manifest (description and, for drawn sets, the licence).
    n_color, n_lineart = (len(list((root / d / "train").iterdir())) for d in ("color", "lineart"))
    assert (
        state["note"] == f"decoder: its last stage also trained on {n_color} color clips and {n_lineart} lineart clips"
    )


def test_the_licence_names_the_drawn_sets_a_stage_trained_on():
    from models.training.build_pack import license_text

    assert license_text("") == "MIT (weights trained by this project on its own generated data)"
    both = license_text("denoiser: … 125 Synfig clips; decoder: its last stage also trained on 1116 sprites clips")
    assert "Synfig's example documents" in both and "wesnoth-1.16-data and pingus-data sprites" in both
    assert both.endswith("GPL-2+ artwork, not included)") and len(both) <= 200  # the manifest schema's limit
    assert "Synfig" not in license_text("decoder: its last stage also trained on 1116 sprites clips")
    # A decoder stage names its sets by folder: a lowercase "synfig" counts.
    assert "Synfig's example documents" in license_text("decoder: its last stage also trained on 107 synfig clips")


def tiny_decoder_stage(runs: Path, run_dir: Path, samples: Path) -> list[str]:
    """train_decoder.py's arguments for a tiny stage on the color set with the fixture's samplers."""
    return [
        "train_decoder",
        "--data",
        str(runs.parent / "color"),
        "--vae",
        str(runs / "vae" / "vae_last.pt"),
        "--denoiser",
        str(runs / "denoiser" / "denoiser_last.pt"),
        "--student",
        str(runs / "student" / "student_last.pt"),
        "--run",
        str(run_dir),
        "--samples",
        str(samples),
        "--baseline-steps",
        "2",
        "--student-steps",
        "1",
        "--crop",
        "8,8",
        "--batch",
        "2",
    ]


def runs_with_decoder(runs: Path, decoder: Path, runs_copy: Path) -> Path:
    """A copy of the fixture's stages with `decoder` as a later decoder stage (decoder5), the pack's."""
    for stage in ("vae", "denoiser", "student", "decoder"):
        (runs_copy / stage).mkdir(parents=True)
        (runs_copy / stage / f"{stage}_last.pt").write_bytes((runs / stage / f"{stage}_last.pt").read_bytes())
    (runs_copy / "decoder5").mkdir()
    (runs_copy / "decoder5" / "decoder_last.pt").write_bytes(decoder.read_bytes())
    lora_that_matters(runs / "lora" / "lora_last.pt", runs_copy / "lora" / "lora_last.pt")
    return runs_copy


def test_decoder_learns_the_motion_prior_from_a_decoder_without_it(runs, tmp_path):
    """train_decoder.py --motion --init <a decoder without the prior> caches the clips' classical flows
    (both directions, full keyframes), starts from that decoder and trains one that takes them and τ."""
    root = runs.parent
    dec = [
        *tiny_decoder_stage(runs, tmp_path / "dec", samples=runs / "decoder"),
        "--ckpt-every",
        "2",
        "--motion",
        "--init",
        str(runs / "decoder" / "decoder_last.pt"),
        "--psnr",
        "0.5",
        "--val-every",
        "2",
        "--val-clips",
        "1",
    ]
    run(*dec, "--steps", "2")
    assert "at step 2" in run(*dec, "--steps", "3").stdout
    # With --psnr the log carries each step's crop PSNR; whole validation frames are scored every
    # --val-every steps and at the end, next to the flow warp on the same frames.
    rows = list(csv.DictReader(open(tmp_path / "dec" / "decoder_log.csv")))
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert all(0 < float(r["psnr"]) < 80 for r in rows)
    assert [bool(r["full_psnr"]) for r in rows] == [False, True, True]
    whole = rows[-1]
    alex = REPO.parent / "shared" / "data" / "lpips" / "lpips_alex_v0.1.safetensors"
    lp = float(whole["full_lpips"])  # LPIPS-Alex when its weights are at hand, else nan
    assert 0 < float(whole["full_psnr"]) < 80 and (0 <= lp <= 1 if alex.exists() else math.isnan(lp))
    warp_psnr = float(whole["warp_psnr"])
    motion = torch.load(runs / "decoder" / "motion_train.pt")
    clip = sorted((root / "color" / "train").iterdir())[0]
    h, w = (
        procedural.make_scene(int(clip.name.split("_")[1])).height,
        procedural.make_scene(int(clip.name.split("_")[1])).width,
    )
    assert motion[clip.name].shape == (4, h, w) and torch.isfinite(motion[clip.name].float()).all()
    state = torch.load(tmp_path / "dec" / "decoder_last.pt")
    assert state["decoder_config"] == {"corr_radius": 0, "motion": True} and state["step"] == 3
    assert state["ema"].keys() == torch.load(runs / "decoder" / "decoder_last.pt")["ema"].keys()
    # latent_ablation.py scores such a decoder too: it gets the Farneback flows and τ = ½.
    out = run(
        "latent_ablation",
        "--runs",
        str(runs),
        "--decoder",
        str(tmp_path / "dec" / "decoder_last.pt"),
        "--data",
        str(root / "color"),
        "--limit",
        "1",
    ).stdout
    assert "(motion prior)" in out and all(math.isfinite(v) for v in ablation_rows(out).values())
    assert set(ablation_rows(out)) == {
        "true latent",
        "baseline sample",
        "keyframe average",
        "zeros",
        "flow warp",
        "frame blend",
    }
    # Its flow-warp row is the report's anchor: the halfway warp along OpenCV's own flows (opencv_motion) of
    # the clip it scored (the first validation clip, cropped to a multiple of 8) — a classical warp like the
    # training log's along the motion graph's Farnebäck flows, whose PSNR is near it.
    from models.training.classical_flow import halfway_warp, opencv_motion
    from models.training.trainlib import clip_targets, load_rgb, psnr

    val = sorted((root / "color" / "val").iterdir())[0]
    s, e, m = (load_rgb(p)[None] for p in (val / "frame1.png", val / "frame3.png", clip_targets(val)[0][0]))
    h8, w8 = s.shape[-2] // 8 * 8, s.shape[-1] // 8 * 8
    s, e, m = (x[..., :h8, :w8] for x in (s, e, m))
    a = opencv_motion(s, e)
    anchor = psnr(halfway_warp(s, e, a[:, :2], a[:, 2:]).clamp(-1, 1), m)
    assert abs(ablation_rows(out)["flow warp"] - anchor) < 0.01
    assert abs(anchor - warp_psnr) < 1.0

    # build_pack.py exports it with the motion graph it needs; the studio's schema accepts the pair.
    runs_copy = runs_with_decoder(runs, tmp_path / "dec" / "decoder_last.pt", tmp_path / "runs")
    out = tmp_path / "pack"
    assert "motion vs torch" in tool("build_pack", "--runs", str(runs_copy), "--out", str(out)).stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["graphs"]["decoder"]["inputs"] == {
        "latent": "latent",
        "startImage": "start_image",
        "endImage": "end_image",
        "motion": "motion",
        "position": "position",
    }
    assert manifest["graphs"]["motion"]["file"] == "motion.onnx"
    assert manifest["graphs"]["motion"]["sizeBytes"] == (out / "motion.onnx").stat().st_size
    assert validate_with_studio(out / "manifest.json", tmp_path) == {"ok": True}
    # from_pack.py reads such a pack back too, and exporting that again gives the same graphs.
    back, again = tmp_path / "back", tmp_path / "again"
    tool("from_pack", "--pack", str(out), "--runs", str(back))
    assert torch.load(back / "decoder" / "decoder_last.pt")["decoder_config"] == {"motion": True}
    rebuilds_the_same(back, out, again, ["decoder", "motion"])


def test_a_learned_motion_graph_trains_rides_with_its_decoder_and_reads_back(runs, tmp_path):
    """flow_net.py trains (resumably) and compares its halfway warps with Farnebäck's; train_decoder.py
    --motion-net trains a decoder on its flows and carries its weights; motion_fusion.py fuses that graph
    with OpenCV's flows; build_pack.py exports the fusion as the pack's motion graph, taking the classical
    flows as an input (checked against PyTorch), its decoder's flow corrections turned off (the gate shut),
    and from_pack.py reads it back exactly."""
    import onnx
    from onnx import numpy_helper

    from models.training.cel_model import FlowDecoder

    root = runs.parent
    flow = ["flow_net", "--data", f"{root / 'color'}:1", "--run", str(tmp_path / "flow"), "--batch", "1"]
    run(*flow, "--crop", "64", "--steps", "2")
    assert "at step 2" in run(*flow, "--crop", "64", "--steps", "3").stdout
    assert [r["step"] for r in csv.DictReader(open(tmp_path / "flow" / "flow_log.csv"))] == ["2", "3"]
    evaluated = run(
        "flow_net", "--run", str(tmp_path / "flow"), "--eval", "--sets", str(root / "color"), "--limit", "1"
    )
    line = next(x for x in evaluated.stdout.splitlines() if x.startswith(str(root / "color")))
    learned, classical = (float(re.search(rf"{k} (-?[\d.]+)", line).group(1)) for k in ("learned", "farneback"))
    assert 0 < learned < 80 and 0 < classical < 80
    # The matching branch (--corr-radius) joins a trained net; a spent --minutes budget ends the run
    # after the step in hand.
    matched = run(
        *flow[:4], str(tmp_path / "flow2"), "--batch", "1", "--crop", "64", "--steps", "1000", "--minutes", "1e-6",
        "--init", str(tmp_path / "flow" / "flow_last.pt"), "--corr-radius", "2",
    )  # fmt: skip
    assert "no matching branch" in matched.stdout
    (logged,) = csv.DictReader(open(tmp_path / "flow2" / "flow_log.csv"))  # its last step, then a checkpoint
    assert int(logged["step"]) <= 2
    dec = [
        *tiny_decoder_stage(runs, tmp_path / "dec", samples=tmp_path / "dec"),
        "--motion",
        "--gate",
        "--motion-net",
        str(tmp_path / "flow2" / "flow_last.pt"),
        "--init",
        str(runs / "decoder" / "decoder_last.pt"),
        "--val-clips",
        "0",
        "--steps",
        "1",
    ]
    run(*dec)
    net = torch.load(tmp_path / "flow2" / "flow_last.pt")["ema"]
    assert any(k.startswith("corr_h.") for k in net)
    state = torch.load(tmp_path / "dec" / "decoder_last.pt")
    assert state["motion_net"].keys() == net.keys()
    assert all(torch.equal(state["motion_net"][k], net[k]) for k in net)
    (cache,) = (tmp_path / "dec").glob("motion_train_net*.pt")  # named by the graph's weights
    clip = sorted((root / "color" / "train").iterdir())[0]
    assert torch.load(cache)[clip.name].shape[0] == 4
    runs_copy = runs_with_decoder(runs, tmp_path / "dec" / "decoder_last.pt", tmp_path / "runs")
    # The motion-fusion stage fuses the pack decoder's learned graph (found beside its run folder) with
    # OpenCV's flows; it resumes, and compares its halfway warps with both motions'.
    fusion = ["motion_fusion", "--data", f"{root / 'color'}:1", "--run", str(runs_copy / "fusion"), "--batch", "1"]
    assert "decoder5" in run(*fusion, "--crop", "64", "--steps", "2").stdout
    assert "at step 2" in run(*fusion, "--crop", "64", "--steps", "3").stdout
    fused = torch.load(runs_copy / "fusion" / "fusion_last.pt")
    assert all(torch.equal(fused["motion_net"][k], net[k]) for k in net)
    evaluated = run(
        "motion_fusion", "--run", str(runs_copy / "fusion"), "--eval", "--sets", str(root / "color"), "--limit", "1"
    )
    line = next(x for x in evaluated.stdout.splitlines() if x.startswith(str(root / "color")))
    scores = [float(re.search(rf"{k} (-?[\d.]+)", line).group(1)) for k in ("learned", "opencv", "fused")]
    assert all(0 < x < 80 for x in scores)
    # A decoder trained on the fusion's motion (--motion-fusion) carries its learned graph on unchanged;
    # a fusion of another learned graph is refused by name.
    fused_dec = [
        *tiny_decoder_stage(runs, tmp_path / "fused_dec", samples=tmp_path / "dec"),
        "--motion",
        "--gate",
        "--motion-fusion",
        str(runs_copy / "fusion" / "fusion_last.pt"),
        "--val-clips",
        "0",
        "--steps",
        "1",
    ]
    said = refusal(*fused_dec, "--motion-net", str(tmp_path / "flow" / "flow_last.pt"), "--threads", "1")
    assert "fuses another learned motion graph" in said
    run(*fused_dec, "--init", str(runs_copy / "decoder5" / "decoder_last.pt"))
    got = torch.load(tmp_path / "fused_dec" / "decoder_last.pt")["motion_net"]
    assert all(torch.equal(got[k], net[k]) for k in net)
    (fused_cache,) = (tmp_path / "dec").glob("motion_train_fusion*.pt")  # named by the fusion's weights
    learned_flows, fused_flows = torch.load(cache)[clip.name], torch.load(fused_cache)[clip.name]
    assert fused_flows.shape == learned_flows.shape and not torch.equal(fused_flows, learned_flows)
    fusion_graph = motion_fusion.OpenCVFusion(motion_fusion.load_fusion(fused))
    keys = [to_float(FrameCache().raw(clip / f"frame{i}.png")[None]) for i in (1, 3)]
    with torch.no_grad():
        want = fusion_graph(*keys)[0]
    assert torch.allclose(fused_flows.float(), want.float(), atol=0.05)
    out = tmp_path / "pack"
    built = tool("build_pack", "--runs", str(runs_copy), "--out", str(out)).stdout
    assert "motion vs torch" in built
    manifest = json.loads((out / "manifest.json").read_text())
    assert "learned motion graph" in manifest["description"]
    assert "matching the keyframes by a cost volume" in manifest["description"]
    assert "fused per pixel with OpenCV's Farneback flows" in manifest["description"]
    assert "motion fusion 3" in manifest["description"]
    # On the fused motion the decoder's flow corrections are turned off: its gate shut in the graph.
    assert "its own corrections of those flows turned off" in manifest["description"]
    gate_bias = next(i for i in onnx.load(str(out / "decoder.onnx")).graph.initializer if i.name == "gate.bias")
    assert (numpy_helper.to_array(gate_bias) == FlowDecoder.CLOSED_GATE_BIAS).all()
    trained = torch.load(runs_copy / "decoder5" / "decoder_last.pt")["ema"]["gate.bias"]
    assert trained.ne(FlowDecoder.CLOSED_GATE_BIAS).all()  # the checkpoint keeps the gate as trained
    motion = manifest["graphs"]["motion"]
    assert motion["inputs"]["classicalMotion"] == "classical_motion"
    assert motion["classicalFlow"]["method"] == "opencv-farneback" and motion["classicalFlow"]["winsize"] == 21
    assert validate_with_studio(out / "manifest.json", tmp_path) == {"ok": True}
    back, again = tmp_path / "back", tmp_path / "again"
    tool("from_pack", "--pack", str(out), "--runs", str(back))
    got = torch.load(back / "decoder" / "decoder_last.pt")["motion_net"]
    assert all(torch.equal(got[k], net[k]) for k in net)
    got = torch.load(back / "fusion" / "fusion_last.pt")
    assert got["step"] == 3 and all(torch.equal(got["ema"][k], fused["ema"][k]) for k in fused["ema"])
    rebuilds_the_same(back, out, again, ["decoder", "motion"])


def test_a_baseline_conditioned_on_the_motion_graph_rides_with_its_lora_and_reads_back(runs, tmp_path):
    """train_denoiser.py --motion <decoder with a learned motion graph> caches the clips' motion at latent
    cells and fine-tunes the baseline with it (starting as the baseline); train_lora.py trains adapters on
    it; build_pack.py exports both taking the motion graph's output (the student not), the studio accepts
    the manifest and its CLI runs the pack, and from_pack.py reads it back exactly. (Not a recipe stage: the
    two are put where build_pack takes the tuned baseline and its LoRA from.)"""
    root = runs.parent
    flow = ["flow_net", "--data", f"{root / 'color'}:1", "--run", str(tmp_path / "flow"), "--batch", "1"]
    run(*flow, "--crop", "64", "--steps", "1")
    dec = [
        *tiny_decoder_stage(runs, tmp_path / "dec", samples=tmp_path / "dec"),
        "--motion", "--motion-net", str(tmp_path / "flow" / "flow_last.pt"),
        "--init", str(runs / "decoder" / "decoder_last.pt"), "--val-clips", "0", "--steps", "1",
    ]  # fmt: skip
    run(*dec)
    decoder = tmp_path / "dec" / "decoder_last.pt"
    runs_copy = runs_with_decoder(runs, decoder, tmp_path / "runs")
    den = [
        "train_denoiser", "--data", str(root / "color"), "--vae", str(runs / "vae" / "vae_last.pt"),
        "--run", str(runs_copy / "denoiser2"), "--init", str(runs / "denoiser" / "denoiser_last.pt"),
        "--motion", str(decoder), "--batch", "2", "--ckpt-every", "2", "--steps", "2",
    ]  # fmt: skip
    run(*den)
    state = torch.load(runs_copy / "denoiser2" / "denoiser_last.pt")
    assert state["config"]["motion"] and state["ema"]["inp.weight"].shape[1] == 20
    cached = torch.load(runs_copy / "denoiser2" / "motion_train.pt")["clips"]
    clip = sorted((root / "color" / "train").iterdir())[0]
    latents = torch.load(runs_copy / "denoiser2" / "latents_train.pt")["clips"][clip.name]["keys"]
    assert cached[clip.name].shape == (4, *latents.shape[-2:])
    lora = [
        "--data", str(root / "lineart"), "--vae", str(runs / "vae" / "vae_last.pt"),
        "--base", str(runs_copy / "denoiser2" / "denoiser_last.pt"), "--run", str(runs_copy / "lora2"),
        "--batch", "2", "--steps", "1",
    ]  # fmt: skip
    assert "give --motion" in refusal("train_lora", *lora)  # a motion base needs its graph
    run("train_lora", *lora, "--motion", str(decoder))
    lora_that_matters(runs_copy / "lora2" / "lora_last.pt", runs_copy / "lora2" / "lora_last.pt")
    out = tmp_path / "pack"
    built = tool("build_pack", "--runs", str(runs_copy), "--out", str(out)).stdout
    assert re.search(r"lora\(0\) vs baseline\s+max \|diff\| = 0", built), built
    manifest = json.loads((out / "manifest.json").read_text())
    dens = manifest["graphs"]["denoisers"]
    assert all(dens[k]["inputs"]["motion"] == "motion" for k in ("fp32", "fp16", "lora"))
    assert "motion" not in dens["student"]["inputs"]
    assert validate_with_studio(out / "manifest.json", tmp_path) == {"ok": True}
    # The studio's CLI (onnxruntime-node) runs it: the motion graph's output reaches the denoiser.
    clip = sorted((root / "color" / "val").iterdir())[0]
    frames = {}
    for variant, extra in (("baseline", []), ("lora", ["--lora-scale", "1"]), ("student", [])):
        cli = subprocess.run(
            ["node", "bin/inbetween.mjs", "interpolate", "--pack", str(out), "--start", str(clip / "frame1.png"),
             "--end", str(clip / "frame3.png"), "--out", str(tmp_path / variant), "--frames", "1", "--steps", "2",
             "--variant", variant, *extra],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr[-2000:]
        frames[variant] = np.asarray(Image.open(tmp_path / variant / "frame_01.png").convert("RGB"), dtype=np.float64)
    assert np.abs(frames["lora"] - frames["baseline"]).mean() > 0  # the adapters, on the motion-taking graph
    back, again = tmp_path / "back", tmp_path / "again"
    tool("from_pack", "--pack", str(out), "--runs", str(back))
    rebuilds_the_same(back, out, again, ["denoiser_fp32", "denoiser_lora"])


def test_gpu_session_runs_end_to_end_on_a_cpu(runs, tmp_path):
    """gpu_session.sh: `prepare` makes slim checkpoints of a runs folder; `train` (here on the CPU, tiny and
    short) builds data, fine-tunes denoiser, student and decoder side by side within its budget and leaves
    slim checkpoints, the same weights as .npz and the logs in OUT. The decoder is the pack's kind: a
    motion-prior decoder carrying its learned motion graph, with the tone branch, the gate and the
    keyframes' blend in place, which the session keeps (same graph and parts; train_decoder refuses an
    --init with parts its options leave out), training its tone on the carried LoRA's sepia samples as the
    recipe does. The VAE is one read back from a pack (encoder only), as every session that starts from
    the committed pack has: the student then distils without the pixel term."""
    from models.training.cel_model import FlowDecoder
    from models.training.flow_net import FlowNet

    # The runs folder with a decoder from outside the recipe (the last one, so the pack's) of that kind.
    mine = tmp_path / "runs"
    mine.mkdir()
    for d in runs.iterdir():
        if d.name != "vae":
            (mine / d.name).symlink_to(d)
    vae = torch.load(runs / "vae" / "vae_last.pt")
    (mine / "vae").mkdir()
    torch.save({"enc": vae["enc"], "step": vae["step"], "from_pack": True}, mine / "vae" / "vae_last.pt")
    torch.manual_seed(0)
    net = FlowNet()
    (mine / "decoder7").mkdir()
    config = {"corr_radius": 2, "motion": True, "tone": True, "gate": True, "blend_in_place": True}
    torch.save(
        {
            "ema": FlowDecoder(**config).state_dict(),
            "decoder_config": config,
            "motion_net": net.state_dict(),
            "step": 1,
        },
        mine / "decoder7" / "decoder_last.pt",
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PY": sys.executable,
        "CARRY": str(tmp_path / "carry"),
        "RUNS": str(mine),
        "DATA": str(tmp_path / "no-data"),
        "HOME": str(tmp_path),
    }
    script = str(T / "gpu_session.sh")
    # …and a baseline tuned through the decoder (tune_student.py --role baseline): the pack's, carried.
    (mine / "denoiser2").mkdir()
    tuned = torch.load(runs / "denoiser" / "denoiser_last.pt")
    torch.save({**tuned, "step": 7, "base_step": tuned["step"]}, mine / "denoiser2" / "denoiser_last.pt")
    prep = subprocess.run(["bash", script, "prepare"], env=env, capture_output=True, text=True, timeout=120)
    assert prep.returncode == 0, prep.stderr[-2000:]
    assert {p.name for p in (tmp_path / "carry").glob("*.pt")} == {
        "vae.pt",
        "denoiser.pt",
        "student.pt",
        "decoder.pt",
        "lora.pt",
    }
    assert torch.load(tmp_path / "carry" / "denoiser.pt")["step"] == 7
    env.update(
        DEVICE="cpu",
        WORK=str(tmp_path / "work"),
        OUT=str(tmp_path / "out"),
        BUDGET="45",
        PROC_TRAIN="4",
        PROC_VAL="2",
        TV_TRAIN="2",
        TV_VAL="1",
        SHARDS="2",
        THREADS="1",
        DEN_BATCH="2",
        DEC_BATCH="1",
        SAMPLE_GROUP="4",
        DEN_SHARE="40",
        STU_BATCH="2",
        STU_PIXEL_BATCH="1",
        SEPIA_CLIPS="3",
    )
    proc = subprocess.run(["bash", script, "train"], env=env, capture_output=True, text=True, timeout=300)
    out = tmp_path / "out"
    assert proc.returncode == 0, (out / "session.log").read_text()[-3000:]
    session = (out / "session.log").read_text()
    assert "procedural: 4 train, 2 val clips" in session and "tvlike: 2 train, 1 val clips" in session
    flags = "--corr-radius 2 --motion --tone --gate --blend-in-place --still-share 0.3 --style-pairs"
    assert f"decoder: {flags}" in session
    assert "sepia: 3 train clips" in session
    assert (
        "the carried VAE has no decoder (read back from a pack): the student distils without the pixel term" in session
    )
    decoder = torch.load(out / "decoder.pt")
    assert decoder["decoder_config"] == config
    assert all(torch.equal(decoder["motion_net"][k], v) for k, v in net.state_dict().items())
    weights = np.load(out / "weights.npz")
    for name in ("denoiser", "student", "decoder"):
        state = torch.load(out / f"{name}.pt")
        assert state["step"] >= 1, name
        assert [int(r["step"]) for r in csv.DictReader(open(out / f"{name}_log.csv"))] == list(
            range(1, state["step"] + 1)
        )
        assert all(np.array_equal(weights[f"{name}/{k}"], v.numpy()) for k, v in state["ema"].items()), name

    # Back on the CPU: gpu_return.py puts the session's models where the recipe's later stages read them,
    # moving aside (not deleting) the folders they replace and those of the stages that must run again.
    gpu = {n: torch.load(out / f"{n}.pt") for n in ("denoiser", "student", "decoder")}
    said = tool("gpu_return", "--out", str(out), "--runs", str(mine)).stdout
    assert "train_pack --from student-decoder" in said
    aside = list(mine.glob("before-gpu-*"))
    assert len(aside) == 1
    assert {p.name for p in aside[0].iterdir()} == {"denoiser", "denoiser2", "student", "decoder7"}
    assert (runs / "denoiser" / "denoiser_last.pt").exists()  # a moved link: the fixture's folder is untouched
    base = torch.load(mine / "denoiser" / "denoiser_last.pt")
    # The carried baseline was the tuned one (7 steps on a 4-step base), then the session's steps (the notes
    # say where the session ran: here, on the CPU).
    assert base["step"] == 7 + 4 + gpu["denoiser"]["step"]
    assert all(torch.equal(base["ema"][k], v) for k, v in gpu["denoiser"]["ema"].items())
    assert base["note"].endswith(
        f"then fine-tuned {gpu['denoiser']['step']} more steps on a CPU (gpu_session.sh, batch 2) "
        "on 4 procedural and 2 TV-like clips"
    )
    student = torch.load(mine / "student" / "student_last.pt")
    assert student["step"] == gpu["student"]["step"]
    assert student["note"] == (
        f"student: distilled on a CPU (gpu_session.sh, batch 2) from that denoiser, {gpu['student']['step']} steps"
    )
    dec = torch.load(mine / "decoder12" / "decoder_last.pt")
    assert dec["made_elsewhere"] and dec["decoder_config"] == config
    assert dec["step"] == 1 + gpu["decoder"]["step"]  # the carried decoder's step, then the session's
    assert dec["note"] == (
        f"decoder: fine-tuned {gpu['decoder']['step']} steps on a CPU (gpu_session.sh, batch 1) on the pack's "
        "samplers' latents of 2 TV-like and 4 procedural clips"
    )
    # Run again on the same folder it refuses: the steps would count twice.
    assert "was already brought back from" in refusal("gpu_return", "--out", str(out), "--runs", str(mine))
    # The next stage (baseline-decoder) tunes that baseline through that decoder and says both.
    clips = runs.parent / "color"
    common = ["--data", str(clips), "--vae", str(mine / "vae" / "vae_last.pt"), "--batch", "1", "--crop", "8"]
    common += ["--decoder", str(mine / "decoder12" / "decoder_last.pt"), "--lpips", "0", "--ckpt-every", "1"]
    tuned = ["--role", "baseline", "--student", str(mine / "denoiser" / "denoiser_last.pt"), "--sample-steps", "3"]
    run("tune_student", *common, *tuned, "--grad-steps", "1", "--steps", "1", "--run", str(mine / "denoiser2"))
    assert "on a CPU (gpu_session.sh, batch 2) on 4 procedural and 2 TV-like clips, then after the student" in (
        torch.load(mine / "denoiser2" / "denoiser_last.pt")["note"]
    )


def test_gpu_return_refuses_weights_that_are_not_finite_and_moves_nothing(runs, tmp_path):
    mine = tmp_path / "runs"
    mine.mkdir()
    for d in ("vae", "denoiser", "student", "lora", "decoder"):
        (mine / d).symlink_to(runs / d)
    out = tmp_path / "out"
    out.mkdir()
    state = torch.load(runs / "denoiser" / "denoiser_last.pt")
    slim = {"ema": dict(state["ema"]), "config": state["config"], "scale_factor": state["scale_factor"]}
    first = next(k for k, v in slim["ema"].items() if v.is_floating_point())
    slim["ema"][first] = slim["ema"][first].clone().fill_(float("nan"))
    torch.save({**slim, "step": 5}, out / "denoiser.pt")
    said = refusal("gpu_return", "--out", str(out), "--runs", str(mine))
    assert "denoiser.pt: weights that are not finite" in said
    assert sorted(p.name for p in mine.iterdir()) == ["decoder", "denoiser", "lora", "student", "vae"]
    # Another VAE's latent scale is refused too, and an empty folder is named for what it is.
    torch.save({**slim, "ema": state["ema"], "scale_factor": 0.123, "step": 5}, out / "denoiser.pt")
    assert "the session ran on another VAE" in refusal("gpu_return", "--out", str(out), "--runs", str(mine))
    (out / "denoiser.pt").unlink()
    assert "is it a gpu_session.sh output folder?" in refusal("gpu_return", "--out", str(out), "--runs", str(mine))


def test_a_decoder_made_elsewhere_keeps_its_note_in_front_of_the_next_stages(tmp_path):
    from models.training.train_decoder import elsewhere_note

    made = tmp_path / "made.pt"
    torch.save({"note": "decoder: fine-tuned 9 steps on a GPU (gpu_session.sh)", "made_elsewhere": True}, made)
    plain = tmp_path / "plain.pt"
    torch.save({"note": "decoder: its last stage also trained on 600 tvlike clips"}, plain)
    still = "decoder: its last stage made 30% of its crops still"
    assert elsewhere_note(str(made), still) == (
        "decoder: fine-tuned 9 steps on a GPU (gpu_session.sh), then its last stage made 30% of its crops still"
    )
    assert elsewhere_note(str(made), None) == "decoder: fine-tuned 9 steps on a GPU (gpu_session.sh)"
    assert elsewhere_note(str(plain), still) == still  # a recipe stage's note is that stage's alone
    assert elsewhere_note(None, still) == still


def test_the_psnr_term_is_minus_each_crops_psnr_over_ten():
    """train_decoder.py --psnr: the term is the mean of the crops' own PSNR (dB, negated, / 10), not the
    PSNR of the batch's pooled error."""
    from models.training.losses import crop_psnr_loss
    from models.training.trainlib import psnr

    g = torch.Generator().manual_seed(0)
    a = torch.rand((2, 3, 8, 8), generator=g) * 2 - 1
    b = a.clone()
    b[1] += 0.5 * torch.rand((3, 8, 8), generator=g)  # one crop close, one far
    b[0] += 0.01
    expected = -(psnr(a[:1], b[:1]) + psnr(a[1:], b[1:])) / 2 / 10
    assert crop_psnr_loss(a, b).item() == pytest.approx(expected, abs=1e-4)
    assert crop_psnr_loss(a, b).item() != pytest.approx(-psnr(a, b) / 10, abs=1e-2)


def test_fitted_crops_and_report_protocol_validation(runs, tmp_path):
    """train_decoder.py --fitted 1: every step's crops are shown as the studio's letterbox fit shows a
    smaller frame (resized, the latent sampled there, the output mapped back to the native crop before
    the loss); --fit-val-clips scores whole validation frames in the report's protocol, next to the
    flow warp made the same way."""
    dec = [
        *tiny_decoder_stage(runs, tmp_path / "dec", samples=runs / "decoder"),
        "--ckpt-every",
        "2",
        "--motion",
        "--init",
        str(runs / "decoder" / "decoder_last.pt"),
        "--fitted",
        "1",
        "--zoom",
        "1.5,1.5",
        "--fit-val-clips",
        "1",
        "--val-every",
        "2",
        "--val-clips",
        "0",
    ]
    out = run(*dec, "--steps", "2").stdout
    assert "report-protocol validation on 1 clips" in out
    assert "at step 2" in run(*dec, "--steps", "3").stdout
    rows = list(csv.DictReader(open(tmp_path / "dec" / "decoder_log.csv")))
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert [bool(r["fit_psnr"]) for r in rows] == [False, True, True]
    assert all(0 < float(r[k]) < 80 for r in rows[1:] for k in ("fit_psnr", "fitwarp_psnr"))


def test_fitted_batch_maps_native_regions_to_the_crop(tmp_path):
    """DecoderCrops.fitted_batch: the keyframes of a native region resized to the crop (quantised), the
    target left at native size, the flows resized with their vectors scaled by the same factor."""
    import random
    from models.training.decoder_data import DecoderCrops, quantize, studio_resize

    clip = tmp_path / "train" / "a"
    clip.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("frame1.png", "frame2.png", "frame3.png"):
        Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(clip / name)
    flow = torch.zeros((4, 40, 60))
    flow[0], flow[1], flow[2], flow[3] = 2.0, -1.0, -2.0, 1.0  # uniform motion, both directions
    latents = {"a": {"keys": torch.zeros((2, 4, 5, 7)), "targets": torch.zeros((1, 4, 5, 7)), "taus": [0.5]}}
    crops = DecoderCrops({"a": clip}, latents, {"a": {}}, random.Random(0), {"encoder": 1.0}, (4, 6), {"a": flow})
    s, mf, e, m, f, tau = crops.fitted_batch(4, (4, 6), 2.0)  # 32×48 px crops of 16×24 px native regions
    assert s.shape == mf.shape == e.shape == (4, 3, 32, 48) and m.shape == (4, 3, 16, 24) and f.shape == (4, 4, 32, 48)
    assert torch.equal(quantize(studio_resize(m, (32, 48))), mf)  # the fitted middle frame is its native target's
    assert torch.equal(quantize(s), s) and torch.equal(quantize(m), m)  # uint8 levels, as the studio's frames
    assert set(f.abs().flatten().tolist()) == {4.0, 2.0}  # vectors ×2 (flips and time reversal: signs and order)
    assert tau.tolist() == [0.5] * 4


def test_studio_resize_matches_the_studios_resize_image(tmp_path):
    """decoder_data.studio_resize + quantize (the fit the decoder trains and validates with) equals
    the studio's resizeImage (src/core/image.ts) within one level, up and down by factors ≤ 2."""
    from models.training.decoder_data import quantize, studio_resize

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
    rgba = np.concatenate([img, np.full((23, 37, 1), 255, np.uint8)], axis=2)
    (tmp_path / "in.json").write_text(json.dumps({"width": 37, "height": 23, "data": rgba.flatten().tolist()}))
    sizes = [(46, 74), (37, 59), (15, 25), (12, 19)]
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    script = tmp_path / "resize.mts"
    script.write_text(
        "import { readFileSync } from 'node:fs';\n"
        f"import {{ resizeImage }} from {json.dumps((REPO / 'src' / 'core' / 'image.ts').as_posix())};\n"
        f"const raw = JSON.parse(readFileSync({json.dumps((tmp_path / 'in.json').as_posix())}, 'utf8'));\n"
        "const img = { width: raw.width, height: raw.height, data: Uint8ClampedArray.from(raw.data) };\n"
        f"const sizes = {json.dumps(sizes)};\n"
        "console.log(JSON.stringify(sizes.map(([h, w]) => Array.from(resizeImage(img, w, h).data))));\n"
    )
    check = subprocess.run([str(tsx), str(script)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr[-2000:]
    resized = json.loads(check.stdout.strip().splitlines()[-1])
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    for (h, w), data in zip(sizes, resized):
        ours = ((quantize(studio_resize(x, (h, w)))[0].permute(1, 2, 0) + 1) * 127.5).round().numpy()
        studio = np.asarray(data, dtype=np.float64).reshape(h, w, 4)[:, :, :3]
        assert np.abs(ours - studio).max() <= 1, (h, w)


@pytest.fixture(scope="module")
def style_pairs_set(runs):
    """The line-art twins of the fixture's colour clips: the same seeds (scenes, motion and in-between
    positions), drawn as ink on paper."""
    root = runs.parent
    procedural.build(root / "pairs", n_train=3, n_val=2, base_seed=0, style="lineart", extra_taus=2)
    return root / "pairs"


def test_lora_learns_a_style_transfer_from_twin_keyframes(runs, style_pairs_set, tmp_path):
    """train_lora.py --keys-from: each clip's keyframes are its colour twin's (same seed), its in-betweens
    its own; clips without a twin are left out."""
    from models.training.latents import seed_of, style_pairs, style_twins

    root = runs.parent
    common = ["--vae", str(runs / "vae" / "vae_last.pt"), "--batch", "2", "--ckpt-every", "1"]
    base = ["--base", str(runs / "denoiser" / "denoiser_last.pt")]
    run("train_lora", "--data", str(style_pairs_set), "--keys-from", str(root / "color"), *base, "--run",
        str(tmp_path / "lora"), *common, "--steps", "1")  # fmt: skip
    state = torch.load(tmp_path / "lora" / "lora_last.pt")
    assert state["step"] == 1 and state["args"]["keys_from"] == str(root / "color")
    lines = torch.load(tmp_path / "lora" / "latents_train.pt")["clips"]
    colour = torch.load(tmp_path / "lora" / "latents_train_keys.pt")["clips"]
    pairs = style_pairs(lines, colour)
    assert sorted(pairs) == sorted(lines) and len(pairs) == 3
    for name, c in pairs.items():
        twin = f"proc_{seed_of(name)}"
        assert torch.equal(c["keys"], colour[twin]["keys"]) and torch.equal(c["targets"], lines[name]["targets"])
        assert not torch.equal(c["keys"], lines[name]["keys"])  # ink on paper is not the coloured scene
    # A clip whose twin differs in its in-between positions, or has none, is left out.
    odd = {**colour, "proc_0000001": {**colour["proc_0000001"], "taus": [0.5, 0.3, 0.7]}}
    assert sorted(style_twins(lines, odd)) == ["lineart_0000000", "lineart_0000002"]
    with pytest.raises(SystemExit, match="no clip has a keyframe twin"):
        style_twins(lines, {"proc_0000009": colour["proc_0000000"]})


def test_decoder_trains_on_style_pairs(runs, style_pairs_set, tmp_path):
    """train_decoder.py --style-pairs STYLE:KEYS: crops whose keyframes are the KEYS twin's and whose
    in-between (the target) and latent are STYLE's; the note says the stage drew them."""
    from models.training.decoder_data import DecoderCrops
    from models.training.latents import cache_latents
    from models.training.trainlib import load_rgb

    root = runs.parent
    args = ["--vae", str(runs / "vae" / "vae_last.pt"), "--denoiser", str(runs / "denoiser" / "denoiser_last.pt")]
    args += ["--student", str(runs / "student" / "student_last.pt"), "--baseline-steps", "2", "--student-steps", "1"]
    out = run("train_decoder", "--data", str(root / "color"), "--style-pairs", f"{style_pairs_set}:{root / 'color'}",
              "--style-share", "1", *args, "--run", str(tmp_path / "dec"), "--crop", "8,8", "--batch", "2",
              "--steps", "1", "--ckpt-every", "1").stdout  # fmt: skip
    assert f"style pairs: 3 clips of {style_pairs_set} on the keyframes of {root / 'color'}" in out
    state = torch.load(tmp_path / "dec" / "decoder_last.pt")
    assert state["step"] == 1 and state["note"] == (
        "decoder: its last stage also drew 3 pairs clips from their latents on their colour twins' keyframes"
    )
    # --style-lora: the LoRA samples its first clips from the twins' keyframes (cached), and the style
    # items decode those samples too.
    run("train_decoder", "--data", str(root / "color"), "--style-pairs", f"{style_pairs_set}:{root / 'color'}",
        "--style-share", "1", "--style-lora", str(runs / "lora" / "lora_last.pt"), "--style-lora-clips", "2", *args,
        "--run", str(tmp_path / "dec2"), "--crop", "8,8", "--batch", "2", "--steps", "1")  # fmt: skip
    [cache] = (tmp_path / "dec2").glob("samples_train_pairs_lora*.pt")
    cached = torch.load(cache)
    assert sorted(n for n, c in cached.items() if "lora" in c) == ["lineart_0000000", "lineart_0000001"]

    # What a style crop holds: keyframes from the colour twin, the in-between from the line-art clip.
    lines = cache_latents(style_pairs_set, "train", runs / "vae" / "vae_last.pt", tmp_path / "l.pt")["clips"]
    assert cached["lineart_0000000"]["lora"].shape == lines["lineart_0000000"]["targets"].shape
    name = "lineart_0000001"
    colour_clip, line_clip = root / "color" / "train" / "proc_0000001", style_pairs_set / "train" / name
    h, w = lines[name]["keys"].shape[-2:]
    crops = DecoderCrops(
        {name: line_clip}, {name: lines[name]}, {}, random.Random(0), {"encoder": 1.0}, (h, w),
        key_folders={name: colour_clip},
    )  # fmt: skip

    def img(path):  # uint8 as the crops hold them, cut to the latent's size
        return ((load_rgb(path)[:, : 8 * h, : 8 * w] + 1) * 127.5).round().to(torch.uint8)

    keys = [img(colour_clip / f) for f in ("frame1.png", "frame3.png")]
    middles = [img(p) for p in sorted(line_clip.glob("*.png")) if p.name not in ("frame1.png", "frame3.png")]
    b = crops.batch(8, (h, w))
    for s, m, e in zip(b.start, b.middle, b.end):
        flip = not any(torch.equal(s, k) for k in keys)  # a horizontal flip, or none
        s, m, e = (x.flip(-1) if flip else x for x in (s, m, e))
        assert {0, 1} == {i for i, k in enumerate(keys) for x in (s, e) if torch.equal(x, k)}
        assert any(torch.equal(m, x) for x in middles)


def test_decoder_trains_on_still_crops(runs, tmp_path):
    """train_decoder.py --still-share S: a share S of the crops still — the start frame three times with the
    encoder's latent of that frame and no motion, or the start frame held everywhere but in a rectangle of
    whole latent cells where the clip moves as it did (its latent there the source's, elsewhere the start
    frame's); the note says so. With --gate and --blend-in-place (the recipe's stage has all three) the gate
    of the flow corrections trains and both ride in the config; build_pack.py exports them and says so,
    and from_pack.py reads them back exactly."""
    from models.training.decoder_data import DecoderCrops, held
    from models.training.latents import cache_latents

    root = runs.parent
    out = run(*tiny_decoder_stage(runs, tmp_path / "dec", tmp_path / "dec"), "--still-share", "0.5", "--motion",
              "--gate", "--blend-in-place", "--steps", "1", "--ckpt-every", "1").stdout  # fmt: skip
    assert "step 1:" in out
    state = torch.load(tmp_path / "dec" / "decoder_last.pt")
    assert state["note"] == "decoder: its last stage made 50% of its crops still"
    assert state["decoder_config"] == {"corr_radius": 0, "motion": True, "gate": True, "blend_in_place": True}
    assert state["dec"]["out.weight"].shape[1] == 3 + 4  # RGB + synthesised, the blend, two warps
    assert state["dec"]["gate.weight"].abs().max() > 0  # zero at the start; trained
    # That decoder as --init of a stage without the blend: refused by name, not a shape error from torch.
    said = refusal(*tiny_decoder_stage(runs, tmp_path / "dec2", tmp_path / "dec"), "--motion", "--gate",
                   "--steps", "1", "--init", str(tmp_path / "dec" / "decoder_last.pt"), "--threads", "1")  # fmt: skip
    assert "chooses among 4 candidates, these options 5" in said
    runs_copy = runs_with_decoder(runs, tmp_path / "dec" / "decoder_last.pt", tmp_path / "runs")
    pack, back, again = tmp_path / "pack", tmp_path / "back", tmp_path / "again"
    tool("build_pack", "--runs", str(runs_copy), "--out", str(pack))
    description = json.loads((pack / "manifest.json").read_text())["description"]
    assert "its own corrections of those flows gated" in description
    assert "the keyframes' blend in place" in description
    tool("from_pack", "--pack", str(pack), "--runs", str(back))
    config = torch.load(back / "decoder" / "decoder_last.pt")["decoder_config"]
    assert config == {"motion": True, "gate": True, "blend_in_place": True}
    rebuilds_the_same(back, pack, again, ["decoder"])

    clips = cache_latents(root / "color", "train", runs / "vae" / "vae_last.pt", tmp_path / "l.pt")["clips"]
    name = sorted(clips)[0]
    c = clips[name]
    h, w = c["keys"].shape[-2:]
    folder = root / "color" / "train" / name
    flows = {name: torch.randn(4, 8 * h, 8 * w).half()}
    crops = DecoderCrops({name: folder}, {name: c}, {}, random.Random(3), {"encoder": 1.0}, (h, w), flows, still=1.0)
    crops.augment = lambda frames, flows, tau, z=None: (frames, flows, tau, z)  # no flips: compare in place
    start_z = c["keys"][0].float()
    kinds = set()
    for _ in range(16):
        b = crops.batch(1, (h, w))
        s, m, e, z, f = b.start[0], b.middle[0], b.end[0], b.latent[0], b.motion[0]
        if torch.equal(s, m) and torch.equal(s, e):
            kinds.add("still")
            assert torch.equal(z, start_z) and f.abs().max() == 0
            continue
        kinds.add("held")
        inside = f.abs().amax(0) > 0  # the flows: the clip's (random, nonzero) in the rectangle, zero outside
        rows, cols = inside.any(1).nonzero()[:, 0], inside.any(0).nonzero()[:, 0]
        r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
        assert inside[r0:r1, c0:c1].all() and int(inside.sum()) == (r1 - r0) * (c1 - c0) < 8 * h * 8 * w
        assert all(v % 8 == 0 for v in (r0, r1, c0, c1))  # whole latent cells
        assert torch.equal(f[:, r0:r1, c0:c1], flows[name].float()[:, r0:r1, c0:c1])
        assert all(torch.equal(x[:, ~inside], s[:, ~inside]) for x in (m, e))  # held outside the rectangle
        cells = (slice(r0 // 8, r1 // 8), slice(c0 // 8, c1 // 8))
        assert any(torch.equal(z, held(start_z, t.float(), cells)) for t in c["targets"])  # the source's inside
    assert kinds == {"still", "held"}


def test_the_gate_without_the_motion_prior_is_refused_by_name(capsys):
    """--gate scales the corrections of the motion graph's flows: without --motion there are none, and
    train_decoder.py says so before it loads anything (not FlowDecoder's ValueError from deep inside)."""
    from models.training.train_decoder import parse_args

    assert parse_args(["--run", "r", "--gate", "--motion"]).gate
    with pytest.raises(SystemExit):
        parse_args(["--run", "r", "--gate"])
    assert "--gate gains the corrections of the motion graph's flows: it needs --motion" in capsys.readouterr().err


def test_swap_consistency_decodes_each_crop_with_its_keyframes_swapped():
    """--swap-consistency: every crop is decoded as it is and as its twin with the keyframes swapped (the
    same latent and target, τ → 1 − τ, the motion graph's two flows swapped), in one batch; swap_gap is
    their mean |difference| — zero for a crop that reads the same both ways, not for one that does not."""
    from models.training.cel_model import FlowDecoder
    from models.training.train_decoder import decode, losses, parse_args, swap_gap

    torch.manual_seed(0)
    dec = FlowDecoder(motion=True, gate=True, blend_in_place=True).eval()
    for p in dec.parameters():  # every weight away from its initial value, the candidates' logits too
        p.data.add_(0.05 * torch.randn_like(p))
    z, m = torch.randn(2, 4, 4, 6), torch.rand(2, 3, 32, 48) * 2 - 1
    s, e = torch.rand(2, 3, 32, 48) * 2 - 1, torch.rand(2, 3, 32, 48) * 2 - 1
    motion, tau = torch.randn(2, 4, 32, 48) * 3, torch.tensor([0.25, 0.5])
    swapping = parse_args(["--run", "r", "--motion", "--swap-consistency", "1"])
    with torch.no_grad():
        y, target = decode(swapping, dec, z, s, e, motion, tau, m)
        assert y.shape[0] == 4 and torch.equal(target, torch.cat([m, m]))
        assert torch.allclose(y[:2], dec(z, s, e, motion, tau), atol=1e-5)
        twin = dec(z, e, s, torch.cat([motion[:, 2:], motion[:, :2]], 1), 1.0 - tau)
        assert torch.allclose(y[2:], twin, atol=1e-5)
        assert swap_gap(y).item() > 1e-3  # this decoder's choice depends on the slot
        # The loss: the plain terms over both halves, plus the weighted gap.
        weighted = parse_args(["--run", "r", "--motion", "--swap-consistency", "2.5", "--lpips", "0"])
        loss, plain_loss = losses(weighted, y, target, None), losses(
            parse_args(["--run", "r", "--lpips", "0"]), y, target, None
        )
        assert plain_loss.swap is None and torch.isclose(loss.swap, swap_gap(y))
        assert torch.isclose(loss.total, plain_loss.total + 2.5 * swap_gap(y))
        plain, target = decode(parse_args(["--run", "r", "--motion"]), dec, z, s, e, motion, tau, m)
        assert plain.shape[0] == 2 and torch.equal(target, m)
        # One keyframe twice, the flows alike both ways, τ = ½: the twin is the same crop.
        same = torch.cat([motion[:, :2], motion[:, :2]], 1)
        y, _ = decode(swapping, dec, z, s, s, same, tau * 0 + 0.5, m)
        assert swap_gap(y).item() < 1e-6


def test_a_tone_decoder_and_a_sepia_lora_make_a_pack_that_reads_back(runs, style_pairs_set, tmp_path):
    """train_decoder.py --tone from a decoder without it: the branch trains (it starts at zero) and rides in
    the checkpoint's config; build_pack.py names the LoRA by its --style (label, slider range, description)
    and says the decoder recolours; from_pack.py reads both back, and the rebuild says and exports the same."""
    from models.training.train_lora import STYLES

    stage = tiny_decoder_stage(runs, tmp_path / "dec", tmp_path / "dec")
    run(*stage, "--init", str(runs / "decoder" / "decoder_last.pt"), "--tone", "--steps", "2",
        "--style-pairs", f"{style_pairs_set}:{runs.parent / 'color'}", "--style-share", "0.5")  # fmt: skip
    state = torch.load(tmp_path / "dec" / "decoder_last.pt")
    assert state["decoder_config"]["tone"] is True
    assert state["dec"]["tone.bias"].abs().max() > 0  # zero at the start; trained
    # A later stage that leaves the branch out is told so; it is not silently dropped.
    from types import SimpleNamespace

    from models.training.train_decoder import init_decoder

    with pytest.raises(SystemExit, match=r"leave out: \['tone', 'tone_h'\]"):
        init_decoder(SimpleNamespace(init=tmp_path / "dec" / "decoder_last.pt", motion=False), {"tone": False})
    runs_copy = runs_with_decoder(runs, tmp_path / "dec" / "decoder_last.pt", tmp_path / "runs")
    lora = torch.load(runs_copy / "lora" / "lora_last.pt")
    lora["style"] = "sepia"  # as train_lora.py --style sepia saves it
    torch.save(lora, runs_copy / "lora" / "lora_last.pt")
    out = tmp_path / "pack"
    tool("build_pack", "--runs", str(runs_copy), "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    [variant] = [v for v in manifest["variants"] if v["id"] == "lora"]
    assert variant["label"] == STYLES["sepia"].label == "Sepia LoRA (live scale)"
    assert variant["loraScale"] == {"default": 1, "min": 0, "max": 1.5}
    assert STYLES["sepia"].about in manifest["description"]
    assert "recolours what it chooses" in manifest["description"]
    assert validate_with_studio(out / "manifest.json", tmp_path) == {"ok": True}
    back, again = tmp_path / "back", tmp_path / "again"
    tool("from_pack", "--pack", str(out), "--runs", str(back))
    assert torch.load(back / "lora" / "lora_last.pt")["style"] == "sepia"
    assert torch.load(back / "decoder" / "decoder_last.pt")["decoder_config"]["tone"] is True
    rebuilds_the_same(back, out, again, ["decoder"])
    rebuilt = json.loads((again / "manifest.json").read_text())
    assert (rebuilt["description"], rebuilt["variants"]) == (manifest["description"], manifest["variants"])


def test_the_student_distils_without_the_pixel_term_from_a_pack_vae(runs, tmp_path):
    """distill_student.py's pixel term decodes with the VAE stage's own decoder, which a pack does not ship:
    a VAE read back from one (encoder only) needs --pixel-batch 0, and says so otherwise."""
    from models.training.distill_student import pixel_decoder

    vae = torch.load(runs / "vae" / "vae_last.pt")
    encoder_only = tmp_path / "vae.pt"
    torch.save({"enc": vae["enc"], "step": vae["step"], "from_pack": True}, encoder_only)
    assert pixel_decoder(encoder_only, 0, "cpu") is None
    with pytest.raises(SystemExit, match=r"has no VAE decoder .*--pixel-batch 0"):
        pixel_decoder(encoder_only, 2, "cpu")
    decoder = pixel_decoder(runs / "vae" / "vae_last.pt", 2, "cpu")
    assert torch.equal(decoder.state_dict()["out.weight"], vae["dec"]["out.weight"])


def test_latent_regions_splits_the_ablation_by_visibility_and_motion(runs, tmp_path):
    """latent_regions.py on a TV-like clip with a decoder of the pack's kind: every split covers the frame
    once, so the pixel shares and each gain share add up to one over the visibility rows and over the
    motion rows, and the true latent's rows are the decoder's error given the encoder's latent."""
    from models.training.cel_model import FlowDecoder
    from models.training.data import tvlike
    from models.training.flow_net import FlowNet
    from models.training.latent_regions import MOTION, VISIBILITY, Region, regions_of, table

    mine = tmp_path / "runs"
    mine.mkdir()
    for d in ("vae", "denoiser", "student"):
        (mine / d).symlink_to(runs / d)
    torch.manual_seed(0)
    config = {"corr_radius": 2, "motion": True, "tone": True, "gate": True, "blend_in_place": True}
    (mine / "decoder").mkdir()
    torch.save(
        {"ema": FlowDecoder(**config).state_dict(), "decoder_config": config, "motion_net": FlowNet().state_dict()},
        mine / "decoder" / "decoder_last.pt",
    )
    tvlike.write_clip(tmp_path / "tv", "val", tvlike.VAL_SEED_OFFSET + 1)
    said = tool("latent_regions", "--runs", str(mine), "--set", str(tmp_path / "tv" / "val"), "--steps", "2")
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in said.stdout.splitlines()[2:]}
    names = ([n for _, n in VISIBILITY], [n for *_, n in MOTION])
    assert list(rows)[0] == "all" and set(rows) <= {"all", *names[0], *names[1]}  # (empty regions are left out)
    assert rows["visible in both keyframes"] and rows["visible in one (occluded in the other)"]
    for split in names:
        assert abs(sum(float(rows[n][0]) for n in split if n in rows) - 1) < 0.003, split
    # (A random decoder makes the three latents' errors almost equal, so the gain shares are checked on
    # made-up errors:) the sums behind the table, each split adding up to the whole.
    regions: dict[str, Region] = {}
    seen = np.zeros((2, 4, 4), bool)
    seen[0, :2] = True
    seen[1, :, :3] = True
    flows = np.zeros((2, 2, 4, 4))
    flows[0, 0, :, 2:] = 40.0
    errors = {"average": np.full((4, 4), 0.3), "sample": np.full((4, 4), 0.2), "true": np.full((4, 4), 0.1)}
    regions_of(errors, seen, flows, regions)
    assert regions["visible in both keyframes"].pixels == 6 and regions["visible in neither"].pixels == 2
    assert regions["motion 30 px or more"].pixels == 8 and regions["motion under 2 px"].pixels == 8
    errors["true"][:, 2:] = 0.0  # the moving half gains more from the true latent
    regions = {}
    regions_of(errors, seen, flows, regions)
    shown = table(regions)
    assert "| all | 1.000 | 0.3000 | 0.2000 | 0.0500 | +1.00 | +1.00 |" in shown
    assert "| motion 30 px or more | 0.500 | 0.3000 | 0.2000 | 0.0000 | +0.60 | +0.50 |" in shown
    assert "| motion under 2 px | 0.500 | 0.3000 | 0.2000 | 0.1000 | +0.40 | +0.50 |" in shown

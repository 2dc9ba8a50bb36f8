"""Export the trained checkpoints into the bundled pack (default models/cel): encoder, the
keyframe-referencing decoder, and the baseline / LoRA (live scale) / fp16 / student denoisers, each
checked against PyTorch with onnxruntime-node, described by one manifest with sizes and sha256.

    /usr/bin/python3 -m models.training.build_pack [--runs runs] [--out models/cel]

The decoder is the last decoder stage's that has a checkpoint (recipe.DECODER_RUNS), else the VAE
stage's reference decoder.

Checks (the export fails if one does not hold): every graph matches PyTorch; the LoRA graph at scale
0 equals the baseline graph within 1e-5 and changes the output at scale > 0; fp16 agrees with fp32.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.training.cel_model import CelConfig, CelDenoiser, CelEncoder, FlowDecoder, MeanEncoder, RefDecoder
from models.training.classical_flow import ISSUE20_FLOW
from models.training.flow_net import FlowNet, MotionGraph, load_motion_net
from models.training.motion_fusion import MotionFusion, fuses, load_fusion
from models.training.export import (
    MOTION_AXES,
    SPATIAL,
    LiveLoraScale,
    example_inputs,
    export_denoiser,
    export_fp16,
    export_module,
    max_diff,
    update_manifest_hashes,
)
from models.training.layers import BaselineView
from models.training.ort_node import run_onnx
from models.training.recipe import (
    baseline_checkpoint,
    decoder_checkpoints,
    fusion_checkpoint,
    lora_checkpoint,
    student_checkpoint,
)
from models.training.train_lora import STYLES, load_base

REPO = Path(__file__).resolve().parents[2]
SIZE = (512, 320)  # width, height: the ToonCrafter keyframes' size
DEFAULT_STEPS = 25
STUDENT_STEPS = 4
# The classical flow the motion fusion takes (the manifest's graphs.motion.classicalFlow): OpenCV's
# Farnebäck at issue 20's settings (classical_flow.ISSUE20_FLOW), which the studio computes.
CLASSICAL_FLOW = {
    "method": "opencv-farneback",
    **dict(zip(("pyrScale", "levels", "winsize", "iterations", "polyN", "polySigma"), ISSUE20_FLOW[:6])),
}


@dataclass
class PackModels:
    """The trained models a pack is exported from (eval mode), its latent scale factor, and what the
    manifest says about their training: steps per stage and the checkpoints' notes."""

    encoder: CelEncoder
    decoder: torch.nn.Module  # FlowDecoder, or the VAE's RefDecoder when no decoder stage ran
    baseline: CelDenoiser
    lora: CelDenoiser
    student: CelDenoiser
    scale: float
    steps: dict
    motion_net: FlowNet | None = None  # the learned motion graph the decoder was trained with (else Farnebäck)
    fusion: MotionFusion | None = None  # that graph fused with OpenCV's flows (motion_fusion.py), when trained
    lora_style: str = "line-art"  # what the adapter was trained for (train_lora.STYLES)


def load_models(runs: Path) -> PackModels:
    vae = torch.load(runs / "vae" / "vae_last.pt")
    enc = CelEncoder()
    enc.load_state_dict(vae["enc"])
    # The pack's decoder: the FlowDecoder of the last decoder stage that ran (recipe.py: the first
    # stage in runs/decoder, the fine-tuning stages after it, a stage made elsewhere last), else the
    # VAE stage's reference decoder.
    decoders = [torch.load(path) for path in decoder_checkpoints(runs)]
    if decoders:
        dec = FlowDecoder(**decoders[-1].get("decoder_config", {}))
        dec.load_state_dict(decoders[-1]["ema"])
    else:
        dec = RefDecoder()
        dec.load_state_dict(vae["dec"])
    den = torch.load(baseline_checkpoint(runs))
    base = CelDenoiser(CelConfig.from_dict(den["config"]))
    base.load_state_dict(den["ema"])
    lora_path = lora_checkpoint(runs)
    lora_state = torch.load(lora_path)
    lora = CelDenoiser(CelConfig.from_dict(lora_state["config"], lora_dropout=0.0))
    lora.load_state_dict(lora_state["model"])
    # The adapters ride on the pack's baseline: its weights replace the LoRA model's base (`lora.*.base`
    # alias them; the same weights when the LoRA was trained on it), so the LoRA at scale 0 is the baseline.
    try:
        load_base(lora, den["ema"])
    except ValueError as e:
        raise SystemExit(f"{lora_path}: not the baseline's shape ({e})") from e
    stu = torch.load(student_checkpoint(runs))
    student = CelDenoiser(CelConfig.from_dict(stu["config"]))
    student.load_state_dict(stu["ema"])
    steps = {
        "vae": vae["step"],
        "denoiser": den["step"] + den.get("base_step", 0),  # a tuned baseline: its training's steps too
        "lora": lora_state["step"],
        "student": stu["step"] + stu.get("base_step", 0),  # a tuned student: its distillation's steps too
        "decoder": decoders[0]["step"] if decoders else 0,
        # (a decoder read back by from_pack.py carries the fine-tuning steps it already had)
        "decoder_ft": sum(d["step"] for d in decoders[1:]) + (decoders[0].get("fine_tune_steps", 0) if decoders else 0),
        # What a checkpoint says about how it was made beyond the recipe (gpu_session.sh's runs).
        # (only the pack's own decoder stage's: an earlier stage's "last stage" is not the pack's)
        "notes": [c["note"] for c in (den, stu, *decoders[-1:]) if c.get("note")],
    }
    net = load_motion_net(decoders[-1]) if decoders and "motion_net" in decoders[-1] else None
    fusion = None
    fusion_path = fusion_checkpoint(runs)
    if fusion_path is not None and net is not None:
        fusion_state = torch.load(fusion_path, map_location="cpu")
        if not fuses(fusion_state, net):
            raise SystemExit(f"{fusion_path}: fuses another learned motion graph than the pack decoder's")
        fusion = load_fusion(fusion_state, net)
        steps["fusion"] = fusion_state["step"]
        if getattr(dec, "gate", None) is not None:
            # The decoder's flow corrections were learnt on the learned graph's flows alone; on the fused
            # motion they only spoil it (docs/experiment-log.md, thirty-eighth session: off, Synfig +0.50 dB,
            # the other sets within 0.04 dB, LPIPS-Alex a little lower on all four), so they are turned off.
            dec.close_gate()
    style = lora_state.get("style", "line-art")
    if style not in STYLES:
        raise SystemExit(f"{lora_path}: unknown LoRA style {style!r} (known: {', '.join(STYLES)})")
    return PackModels(
        enc.eval(),
        dec.eval(),
        base.eval(),
        lora.eval(),
        student.eval(),
        float(den["scale_factor"]),
        steps,
        net,
        fusion,
        style,
    )


def export_all(out: Path, models: PackModels) -> dict[str, float]:
    """Writes the graphs and returns the check report (max |diff| of each comparison)."""
    enc, dec, base, lora, student = models.encoder, models.decoder, models.baseline, models.lora, models.student
    w, h = SIZE
    g = torch.Generator().manual_seed(3)
    image = torch.rand(1, 3, h, w, generator=g) * 2 - 1
    start, end = torch.rand(1, 3, h, w, generator=g) * 2 - 1, torch.rand(1, 3, h, w, generator=g) * 2 - 1
    latent = torch.randn(1, 4, h // 8, w // 8, generator=g)
    ex = example_inputs(2, *SIZE)
    den_axes = {k: SPATIAL for k in ["sample", "start_latent", "end_latent", "prediction"]}
    den_axes.update({"timestep": {0: "batch"}, "position": {0: "batch"}})
    (out / "encoder.onnx").write_bytes(
        export_module(MeanEncoder(enc), (image,), ["image"], ["latent"], {"image": SPATIAL, "latent": SPATIAL})
    )
    motion = getattr(dec, "motion", False)
    dec_args, dec_names, dec_axes = (
        (latent, start, end),
        ["latent", "start_image", "end_image"],
        {"latent": SPATIAL, "start_image": SPATIAL, "end_image": SPATIAL, "image": SPATIAL},
    )
    motion_feeds = {"start_image": start, "end_image": end}
    if motion and models.fusion is not None:
        motion_feeds["classical_motion"] = torch.randn(1, 4, h, w, generator=g) * 4.0
    if motion:
        graph = models.fusion if models.fusion is not None else MotionGraph(models.motion_net).eval()
        (out / "motion.onnx").write_bytes(
            export_module(
                graph,
                tuple(motion_feeds.values()),
                list(motion_feeds),
                ["motion"],
                {**{k: SPATIAL for k in motion_feeds}, "motion": SPATIAL},
            )
        )
        with torch.no_grad():
            flows = graph(*motion_feeds.values())
        dec_args += (flows, torch.tensor([0.3]))
        dec_names += ["motion", "position"]
        dec_axes["motion"] = SPATIAL
    else:
        (out / "motion.onnx").unlink(missing_ok=True)
    (out / "decoder.onnx").write_bytes(export_module(dec, dec_args, dec_names, ["image"], dec_axes))
    # A motion-conditioned baseline (and its LoRA, on the same base) also takes the motion graph's output:
    # one [1, 4, H, W] copy for the batch, at image resolution.
    base_ex = ex
    if base.cfg.motion:
        if not motion:
            raise SystemExit("the baseline is conditioned on the motion graph, and the decoder has none")
        base_ex = {**ex, "motion": dec_args[3]}
        den_axes_m = {**den_axes, "motion": MOTION_AXES}
    else:
        den_axes_m = den_axes
    if student.cfg.motion:
        raise SystemExit("a motion-conditioned student is not supported: its manifest inputs are the plain ones")
    export_denoiser(base, base_ex, out / "denoiser_fp32.onnx", dynamic_axes=den_axes_m)
    export_denoiser(
        lora, base_ex, out / "denoiser_lora.onnx", lora_scale=True, dynamic_axes={**den_axes_m, "lora_scale": {}}
    )
    export_fp16(out / "denoiser_fp32.onnx", out / "denoiser_fp16.onnx")
    export_denoiser(student, ex, out / "denoiser_student.onnx", dynamic_axes=den_axes)

    feeds = {k: v.numpy() for k, v in base_ex.items()}
    with torch.no_grad():
        ref = {
            "encoder": MeanEncoder(enc)(image).numpy(),
            "decoder": dec(*dec_args).numpy(),
            "baseline": base(*base_ex.values()).numpy(),
            "lora(1)": LiveLoraScale(lora)(*base_ex.values(), torch.tensor([1.0])).numpy(),
            "lora base": BaselineView(lora)(*base_ex.values()).numpy(),
            "student": student(*ex.values()).numpy(),
        }
    got_base = run_onnx(out / "denoiser_fp32.onnx", feeds)["prediction"]
    got_lora0 = run_onnx(out / "denoiser_lora.onnx", {**feeds, "lora_scale": np.zeros(1, np.float32)})["prediction"]
    got_lora1 = run_onnx(out / "denoiser_lora.onnx", {**feeds, "lora_scale": np.ones(1, np.float32)})["prediction"]
    report = {
        "encoder vs torch": max_diff(
            run_onnx(out / "encoder.onnx", {"image": image.numpy()})["latent"], ref["encoder"]
        ),
        "decoder vs torch": max_diff(
            run_onnx(out / "decoder.onnx", {n: a.numpy() for n, a in zip(dec_names, dec_args)})["image"], ref["decoder"]
        ),
        "baseline vs torch": max_diff(got_base, ref["baseline"]),
        "lora(1) vs torch": max_diff(got_lora1, ref["lora(1)"]),
        "student vs torch": max_diff(
            run_onnx(out / "denoiser_student.onnx", {k: v.numpy() for k, v in ex.items()})["prediction"],
            ref["student"],
        ),
        "lora base (torch) vs baseline (torch)": max_diff(ref["lora base"], ref["baseline"]),
        "lora(0) vs baseline": max_diff(got_lora0, got_base),
        "fp16 vs fp32": max_diff(run_onnx(out / "denoiser_fp16.onnx", feeds)["prediction"], got_base),
        "lora(1) vs baseline": max_diff(got_lora1, got_base),
    }
    if motion:
        got = run_onnx(out / "motion.onnx", {k: v.numpy() for k, v in motion_feeds.items()})["motion"]
        report["motion vs torch"] = max_diff(got, dec_args[3].numpy())
    for k, v in report.items():
        print(f"  {k:40s} max |diff| = {v:.2e}")
    for k in ["encoder vs torch", "decoder vs torch", "baseline vs torch", "lora(1) vs torch", "student vs torch"]:
        assert report[k] < 1e-3, f"{k}: {report[k]}"
    # Flows in pixels from a 2×2 solve per pixel: float32 rounding differs by ~1e-3 px on noise images.
    assert report.get("motion vs torch", 0.0) < 1e-2, report["motion vs torch"]
    assert report["lora base (torch) vs baseline (torch)"] == 0.0, "the LoRA model's base is not the baseline"
    assert report["lora(0) vs baseline"] < 1e-5, report["lora(0) vs baseline"]
    assert report["fp16 vs fp32"] < 5e-2, report["fp16 vs fp32"]
    assert report["lora(1) vs baseline"] > 1e-3, "the LoRA scale should change the output"
    return report


def license_text(notes: str) -> str:
    """The pack's licence: the project's own weights, and the artwork licences of the drawn sets that
    some stages also trained on (named in the checkpoints' notes)."""
    drawn = [
        text
        for key, text in (
            ("Synfig", "Synfig's example documents"),
            ("sprites", "Debian's wesnoth-1.16-data and pingus-data sprites"),
        )
        if key.lower() in notes.lower()
    ]
    return "MIT (weights trained by this project on its own generated data" + (
        f"; some stages also on {' and '.join(drawn)}: GPL-2+ artwork, not included)" if drawn else ")"
    )


def write_manifest(
    out: Path,
    scale: float,
    steps: dict,
    motion: bool = False,
    learned_motion: bool = False,
    matching: bool = False,
    lora_style: str = "line-art",
    tone: bool = False,
    motion_denoiser: bool = False,
    gate: bool = False,
    blend_in_place: bool = False,
    fusion: bool = False,
    gate_closed: bool = False,
) -> None:
    lora = STYLES[lora_style]
    din = {
        "sample": "sample",
        "timestep": "timestep",
        "startLatent": "start_latent",
        "endLatent": "end_latent",
        "position": "position",
    }
    # The baseline, its fp16 conversion and the LoRA (same base) with the motion graph's output too.
    base_in = {**din, "motion": "motion"} if motion_denoiser else din
    pred = {"prediction": "prediction"}
    stub = {"sizeBytes": 1, "sha256": "0" * 64}  # filled in by update_manifest_hashes
    notes = "; ".join(steps.get("notes", []))  # how stages beyond the recipe were made (gpu_session.sh)
    manifest = {
        "format": "inbetween-pack",
        "formatVersion": 1,
        "id": "cel",
        "name": "Cel in-betweener (trained)",
        "version": "1.0.0",
        "description": (
            "Latent diffusion in-betweener trained by models/training (train_pack.sh, build_pack.py) on "
            "procedurally generated cel animation: a VAE encoder, a UNet denoiser "
            f"(v-prediction, {DEFAULT_STEPS} DDIM steps), {lora.about} with a live scale, its fp16 conversion, a "
            f"distilled {STUDENT_STEPS}-step student, and a motion-aware decoder that warps the keyframes along flows "
            "it estimates from the sampled latent and a matching cost between the keyframes"
            + (
                (
                    ", and along the flows of a learned motion graph run once per keyframe pair (flow_net.py: "
                    + ("matching the keyframes by a cost volume at 1/8, " if matching else "")
                    + "supervised by true flows of TV-like clips and by the in-betweens of every training set)"
                    + (
                        ", fused per pixel with OpenCV's Farneback flows by how well each one's halfway warps agree "
                        "(motion_fusion.py)"
                        if fusion
                        else ""
                    )
                    if learned_motion
                    else ", and along the classical (Farneback) flows of a motion graph run once per keyframe pair"
                )
                if motion
                else ""
            )
            + (
                ", with its own corrections of those flows turned off (it warps along the motion graph's flows as "
                "they are)"
                if gate_closed
                else ", with its own corrections of those flows gated (off where the motion graph's flows are right)"
                if gate
                else ""
            )
            + (
                ", chooses each pixel among a colour of its own, the keyframes warped and the keyframes' blend in "
                "place (held cels come back as the keyframes' mean)"
                if blend_in_place
                else ""
            )
            + (", and recolours what it chooses by a gain and offset per channel read from the latent" if tone else "")
            + ". Training steps: VAE "
            f"{steps['vae']}, denoiser {steps['denoiser']}, LoRA {steps['lora']}, student {steps['student']}, decoder "
            f"{steps['decoder']}"
            + (f", decoder fine-tuning {steps['decoder_ft']}" if steps["decoder_ft"] else "")
            + (f", motion fusion {steps['fusion']}" if steps.get("fusion") else "")
            + "."
            + (f" {notes[:1].upper()}{notes[1:]}." if notes else "")
            + " See REPORT.md."
        ),
        "trained": True,
        "license": license_text(notes),
        "image": {"defaultSize": list(SIZE), "multipleOf": 64, "valueRange": [-1, 1], "channels": 3},
        "latent": {"channels": 4, "downsample": 8, "scaleFactor": round(scale, 6)},
        "scheduler": {
            "type": "ddim",
            "trainTimesteps": 1000,
            "betaSchedule": "scaled_linear",
            "betaStart": 0.00085,
            "betaEnd": 0.012,
            "predictionType": "v_prediction",
            "timestepSpacing": "trailing",
            "stepsOffset": 0,
            "rescaleZeroTerminalSnr": True,
            "setAlphaToOne": True,
            "defaultSteps": DEFAULT_STEPS,
            "eta": 0,
        },
        "frames": {"mode": "position", "maxBatch": 8},
        "graphs": {
            "encoder": {"file": "encoder.onnx", **stub, "inputs": {"image": "image"}, "outputs": {"latent": "latent"}},
            "decoder": {
                "file": "decoder.onnx",
                **stub,
                "inputs": {
                    "latent": "latent",
                    "startImage": "start_image",
                    "endImage": "end_image",
                    **({"motion": "motion", "position": "position"} if motion else {}),
                },
                "outputs": {"image": "image"},
            },
            **(
                {
                    "motion": {
                        "file": "motion.onnx",
                        **stub,
                        "inputs": {
                            "startImage": "start_image",
                            "endImage": "end_image",
                            **({"classicalMotion": "classical_motion"} if fusion else {}),
                        },
                        "outputs": {"motion": "motion"},
                        **({"classicalFlow": CLASSICAL_FLOW} if fusion else {}),
                    }
                }
                if motion
                else {}
            ),
            "denoisers": {
                "fp32": {"file": "denoiser_fp32.onnx", **stub, "inputs": base_in, "outputs": pred},
                "lora": {
                    "file": "denoiser_lora.onnx",
                    **stub,
                    "inputs": {**base_in, "loraScale": "lora_scale"},
                    "outputs": pred,
                },
                "fp16": {"file": "denoiser_fp16.onnx", **stub, "inputs": base_in, "outputs": pred},
                "student": {"file": "denoiser_student.onnx", **stub, "inputs": din, "outputs": pred},
            },
        },
        "variants": [
            {"id": "baseline", "label": "Baseline (fp32)", "precision": "fp32", "denoiser": "fp32"},
            {
                "id": "lora",
                "label": lora.label,
                "precision": "fp32",
                "denoiser": "lora",
                "loraScale": dict(lora.scale),
            },
            {"id": "fp16", "label": "Baseline fp16", "precision": "fp16", "denoiser": "fp16"},
            {
                "id": "student",
                "label": f"Student ({STUDENT_STEPS} steps)",
                "precision": "fp32",
                "denoiser": "student",
                "recommendedSteps": STUDENT_STEPS,
            },
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    update_manifest_hashes(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=str(REPO / "runs"))
    ap.add_argument("--out", default=str(REPO / "models" / "cel"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = load_models(Path(args.runs))
    export_all(out, models)
    write_manifest(
        out,
        models.scale,
        models.steps,
        motion=getattr(models.decoder, "motion", False),
        learned_motion=models.motion_net is not None,
        matching=models.motion_net is not None and models.motion_net.corr_radius > 0,
        lora_style=models.lora_style,
        tone=getattr(models.decoder, "tone", None) is not None,
        motion_denoiser=models.baseline.cfg.motion,
        gate=getattr(models.decoder, "gate", None) is not None,
        blend_in_place=getattr(models.decoder, "blend_in_place", False),
        fusion=models.fusion is not None,
        gate_closed=getattr(models.decoder, "gate_closed", False),
    )
    total = sum(p.stat().st_size for p in out.iterdir() if p.suffix in (".onnx", ".json"))
    print(f"wrote {out} ({total / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Load a pack's ONNX weights back into the PyTorch models, so a later training stage (the decoder's
fine-tuning on sampled latents, a new LoRA, a new student) can start from the committed pack without
rerunning the stages before it.

torch.onnx keeps most parameters under their own names, but constant folding renames some (GroupNorm
scale/bias become `onnx::Mul_*` / `onnx::Add_*`, Linear weights may be transposed). So the model is
exported once more with random weights through the same exporter; each initializer of that export is
matched to the parameter whose values it holds (same values, maybe reshaped or transposed), and the
trained value is read from the pack's initializer of the same name. Unmatched parameters are an error.

    /usr/bin/python3 -m models.training.from_pack [--pack models/cel] [--runs runs]

writes runs/vae/vae_last.pt, runs/denoiser/denoiser_last.pt, runs/lora/lora_last.pt and
runs/student/student_last.pt in the format the trainers and build_pack.py read (each marked
`from_pack`, with the training steps the manifest's description states).
"""
from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

from models.training.cel_model import (
    CelConfig,
    CelDenoiser,
    CelEncoder,
    FlowDecoder,
    MeanEncoder,
    RefDecoder,
    corr_radius_of,
)
from models.training.export import MOTION_AXES, SPATIAL, LiveLoraScale, example_inputs, export_module
from models.training.flow_net import FlowNet, MotionGraph
from models.training.motion_fusion import MotionFusion
from models.training.ort_node import run_onnx
from models.training.train_lora import STYLES


def _initializers(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}


def load_onnx_weights(model: nn.Module, wrapper: nn.Module, export, pack_graph: Path) -> None:
    """Fills `model`'s parameters from `pack_graph`, exported as `export(wrapper)` (which wraps `model`)."""
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    fresh = _initializers(onnx.load_from_string(export(wrapper)))
    trained = _initializers(onnx.load(str(pack_graph)))
    params = dict(model.named_parameters())
    found: dict[str, np.ndarray] = {}
    for name, value in fresh.items():
        if name not in trained:
            continue
        if trained[name].shape != value.shape:
            raise ValueError(f"{pack_graph}: {name} has shape {trained[name].shape}, this model's {value.shape}")
        for pname, p in params.items():
            if pname in found or p.numel() != value.size:
                continue
            ref = p.detach().numpy()
            if np.array_equal(value.reshape(ref.shape), ref):
                found[pname] = trained[name].reshape(ref.shape)
            elif value.ndim == 2 and ref.ndim == 2 and value.shape == ref.T.shape and np.array_equal(value.T, ref):
                found[pname] = trained[name].T
            else:
                continue
            break
    missing = [n for n in params if n not in found]
    if missing:
        raise ValueError(
            f"{pack_graph}: no initializer holds {missing} (the exporter merges parameters with "
            "identical values, e.g. untrained all-zero LoRA B matrices; those cannot be told apart)"
        )
    with torch.no_grad():
        for pname, value in found.items():
            params[pname].copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _den_inputs(motion: bool, batch: int, w: int, h: int) -> dict:
    """Example denoiser feeds, with the motion graph's output for a motion-conditioned one."""
    ex = example_inputs(batch, w, h)
    if motion:
        ex["motion"] = torch.randn(1, 4, h, w, generator=torch.Generator().manual_seed(2)) * 8.0
    return ex


def _den_export(lora: bool, motion: bool = False):
    ex = _den_inputs(motion, 1, 128, 64)
    names = list(ex)
    axes = {k: SPATIAL for k in ["sample", "start_latent", "end_latent", "prediction"]}
    axes.update({"timestep": {0: "batch"}, "position": {0: "batch"}})
    if motion:
        axes["motion"] = MOTION_AXES
    args = tuple(ex.values())
    if lora:
        names, args, axes = names + ["lora_scale"], args + (torch.tensor([1.0]),), {**axes, "lora_scale": {}}
    return lambda m: export_module(m, args, names, ["prediction"], axes)


def denoiser_config(path: Path, prefix: str = "") -> CelConfig:
    """Widths, embedding size and motion conditioning of a CelDenoiser graph, read off its
    initializers' shapes (a motion-conditioned one's input convolution takes five latents, not three)."""
    dims = {t.name: list(t.dims) for t in onnx.load(str(path)).graph.initializer}
    w0, w1, w2 = (dims[f"{prefix}{n}.weight"][0] for n in ("inp", "down1", "down2"))
    c = CelConfig.latent_channels
    return CelConfig(
        widths=(w0, w1, w2), emb_dim=dims[f"{prefix}emb.0.weight"][0], motion=dims[f"{prefix}inp.weight"][1] == 5 * c
    )


def _same_outputs(model: nn.Module, path: Path) -> bool:
    ex = _den_inputs(model.cfg.motion, 2, 192, 128)
    feeds = {k: v.numpy() for k, v in ex.items()}
    with torch.no_grad():
        ref = LiveLoraScale(model)(*ex.values(), torch.tensor([1.0])).numpy()
    got = run_onnx(path, {**feeds, "lora_scale": np.ones(1, np.float32)})["prediction"]
    return float(np.max(np.abs(got - ref))) < 1e-4


def load_lora(path: Path, base_cfg: CelConfig) -> CelDenoiser:
    """The LoRA denoiser: rank and α are not stored by name, so the candidates the graph's shapes
    allow are tried and the one whose outputs reproduce the graph's at scale 1 is kept."""
    dims = sorted({d for t in onnx.load(str(path)).graph.initializer if len(t.dims) == 2 for d in t.dims if d <= 64})
    for rank in dims:
        for alpha in sorted({16.0, float(rank), 2.0 * rank, 1.0}):
            model = CelDenoiser(
                CelConfig(
                    widths=base_cfg.widths,
                    emb_dim=base_cfg.emb_dim,
                    lora_rank=rank,
                    lora_alpha=alpha,
                    motion=base_cfg.motion,
                )
            )
            try:
                load_onnx_weights(model, LiveLoraScale(model), _den_export(True, base_cfg.motion), path)
            except ValueError:
                break  # wrong rank
            if _same_outputs(model.eval(), path):
                return model
    raise ValueError(f"{path}: no LoRA rank / alpha reproduces this graph")


def read_motion_net(path: Path) -> FlowNet | None:
    """The learned motion graph's FlowNet from a pack's motion graph, or None for Farnebäck's (which has
    only fixed filters). Shaped as the graph says: with the matching branch when it has one."""
    inits = {t.name: t for t in onnx.load(str(path)).graph.initializer}
    if not any(name.startswith("net.") for name in inits):
        return None
    corr = inits.get("net.corr_h.0.weight")
    radius = corr_radius_of(corr.dims[1]) if corr is not None else 0
    net = FlowNet(corr_radius=radius, corr_width=inits["net.cfeat.0.0.weight"].dims[0] if radius else 32)
    image = torch.rand(1, 3, 64, 128) * 2 - 1
    load_onnx_weights(
        net,
        MotionGraph(net),
        lambda m: export_module(
            m,
            (image, image),
            ["start_image", "end_image"],
            ["motion"],
            {"start_image": SPATIAL, "end_image": SPATIAL, "motion": SPATIAL},
        ),
        path,
    )
    return net


def read_fusion(path: Path, net: FlowNet) -> MotionFusion:
    """The motion fusion (motion_fusion.py) of a pack's motion graph that takes `classical_motion`, on
    `net` (its learned graph, already read back: `read_motion_net`)."""
    fusion = MotionFusion(copy.deepcopy(net))
    image = torch.rand(1, 3, 64, 128) * 2 - 1
    feeds = (image, image, torch.randn(1, 4, 64, 128))
    names = ["start_image", "end_image", "classical_motion"]
    load_onnx_weights(
        fusion,
        fusion,
        lambda m: export_module(m, feeds, names, ["motion"], {k: SPATIAL for k in names + ["motion"]}),
        path,
    )
    return fusion.eval()


def recover(pack: Path, runs: Path) -> None:
    manifest = json.loads((pack / "manifest.json").read_text())
    graphs = manifest["graphs"]
    scale = float(manifest["latent"]["scaleFactor"])
    image = torch.rand(1, 3, 64, 128) * 2 - 1
    latent = torch.randn(1, 4, 8, 16)
    dec_inits = onnx.load(str(pack / graphs["decoder"]["file"])).graph.initializer
    flow = any(t.name.startswith("blk.") for t in dec_inits)
    # A FlowDecoder with the 1/16 cost volume: its radius from the number of displacements (corr_h's inputs).
    corr = next((t.dims[1] for t in dec_inits if t.name == "corr_h.weight"), 0)
    decoder_config = {"corr_radius": corr_radius_of(corr)} if corr else {}
    if any(t.name == "tone.weight" for t in dec_inits):  # the recolouring gain and offset
        decoder_config["tone"] = True
    if any(t.name == "gate.weight" for t in dec_inits):  # the gain of the flow corrections
        decoder_config["gate"] = True
    motion = "motion" in graphs["decoder"]["inputs"]  # the classical flow prior (the pack's motion graph)
    if motion:
        decoder_config["motion"] = True
    # RGB + one logit per candidate: one fewer with the keyframes' own pixels blended, two more with the
    # keyframes warped along the prior alone.
    logits = next((t.dims[1] - 3 for t in dec_inits if t.name == "out.weight"), FlowDecoder.CANDIDATES)
    blended, prior = FlowDecoder.CANDIDATES - 1, FlowDecoder.PRIOR_CANDIDATES
    if flow and logits in (blended, blended + prior):
        decoder_config["blend_in_place"] = True
    if flow and logits in (FlowDecoder.CANDIDATES + prior, blended + prior):
        decoder_config["prior_candidates"] = True
    enc, dec = CelEncoder(), (FlowDecoder(**decoder_config) if flow else RefDecoder())
    load_onnx_weights(
        enc,
        MeanEncoder(enc),
        lambda m: export_module(m, (image,), ["image"], ["latent"], {"image": SPATIAL, "latent": SPATIAL}),
        pack / graphs["encoder"]["file"],
    )
    dec_args = (latent, image, image) + ((torch.randn(1, 4, 64, 128), torch.tensor([0.3])) if motion else ())
    dec_names = ["latent", "start_image", "end_image"] + (["motion", "position"] if motion else [])
    load_onnx_weights(
        dec,
        dec,
        lambda m: export_module(m, dec_args, dec_names, ["image"], {k: SPATIAL for k in dec_names[:4] + ["image"]}),
        pack / graphs["decoder"]["file"],
    )
    motion_net, fusion = None, None  # Farnebäck's motion graph has no weights to read back
    if "motion" in graphs:
        motion_net = read_motion_net(pack / graphs["motion"]["file"])
        if "classicalMotion" in graphs["motion"]["inputs"] and motion_net is not None:
            fusion = read_fusion(pack / graphs["motion"]["file"], motion_net)
    base_path = pack / graphs["denoisers"]["fp32"]["file"]
    base = CelDenoiser(denoiser_config(base_path))
    load_onnx_weights(base, base, _den_export(False, base.cfg.motion), base_path)
    lora = load_lora(pack / graphs["denoisers"]["lora"]["file"], base.cfg)
    # What the adapter was trained for, from its variant's label (train_lora.STYLES; build_pack writes it back).
    label = next((v["label"] for v in manifest["variants"] if v.get("denoiser") == "lora"), "")
    lora_style = next((k for k, st in STYLES.items() if st.label == label), "line-art")
    student_path = pack / graphs["denoisers"]["student"]["file"]
    student_cfg = denoiser_config(student_path)
    student = CelDenoiser(student_cfg)
    load_onnx_weights(student, student, _den_export(False), student_path)
    # Training steps as the manifest's description states them ("Training steps: VAE 3000, ...").
    stated = {
        k.lower(): int(v)
        for k, v in re.findall(r"(VAE|denoiser|LoRA|student|decoder|motion fusion) (\d+)", manifest["description"])
    }
    # How stages beyond the recipe were made (build_pack.py writes each checkpoint's `note` after the
    # steps, "Denoiser: …; student: …."): back onto the checkpoints they came from, so that a rebuild
    # says it again.
    fused = r"(?:, motion fusion \d+)?"
    after = re.search(rf"decoder fine-tuning \d+{fused}\. (.*?)\. See REPORT\.md", manifest["description"])
    after = after or re.search(rf"decoder \d+{fused}\. (.*?)\. See REPORT\.md", manifest["description"])
    notes = {}
    for part in after.group(1).split("; ") if after else []:
        stage = part.split(":")[0].strip().lower()
        notes[stage] = part[:1].lower() + part[1:]
    fine_tune = re.search(r"decoder fine-tuning (\d+)", manifest["description"])

    def mark(stage: str) -> dict:
        out = {"step": stated.get(stage, 0), "from_pack": str(pack), "torch_rng": torch.get_rng_state()}
        if stage in notes:
            out["note"] = notes[stage]
        if stage == "decoder" and fine_tune:  # the pack's decoder already went through its fine-tuning stages
            out["fine_tune_steps"] = int(fine_tune.group(1))
        return out

    for sub in ["vae", "denoiser", "lora", "student"] + (["decoder"] if flow else []):
        (runs / sub).mkdir(parents=True, exist_ok=True)
    if flow:  # the pack's decoder came from train_decoder.py; the VAE stage's own decoder is not in the pack
        torch.save({"enc": enc.state_dict(), **mark("vae")}, runs / "vae" / "vae_last.pt")
        torch.save(
            {
                "ema": dec.state_dict(),
                "dec": dec.state_dict(),
                "decoder_config": decoder_config,
                **({"motion_net": motion_net.state_dict()} if motion_net is not None else {}),
                **mark("decoder"),
            },
            runs / "decoder" / "decoder_last.pt",
        )
    else:
        torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), **mark("vae")}, runs / "vae" / "vae_last.pt")
    if fusion is not None:  # the motion-fusion stage's checkpoint, on the decoder's learned graph
        (runs / "fusion").mkdir(parents=True, exist_ok=True)
        torch.save(
            {"ema": fusion.state_dict(), "motion_net": motion_net.state_dict(), **mark("motion fusion")},
            runs / "fusion" / "fusion_last.pt",
        )
    torch.save(
        {
            "ema": base.state_dict(),
            "model": base.state_dict(),
            "config": base.cfg.to_dict(),
            "scale_factor": scale,
            **mark("denoiser"),
        },
        runs / "denoiser" / "denoiser_last.pt",
    )
    torch.save(
        {
            "model": lora.state_dict(),
            "config": lora.cfg.to_dict(),
            "scale_factor": scale,
            "style": lora_style,
            **mark("lora"),
        },
        runs / "lora" / "lora_last.pt",
    )
    torch.save(
        {
            "ema": student.state_dict(),
            "model": student.state_dict(),
            "config": student_cfg.to_dict(),
            "scale_factor": scale,
            **mark("student"),
        },
        runs / "student" / "student_last.pt",
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default="models/cel")
    ap.add_argument("--runs", default="runs")
    args = ap.parse_args()
    recover(Path(args.pack), Path(args.runs))
    print(f"wrote checkpoints from {args.pack} under {args.runs}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

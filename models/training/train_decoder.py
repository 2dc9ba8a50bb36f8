"""Train the pack's decoder (cel_model.FlowDecoder) on the latents the denoisers actually sample.

The VAE stage (train_vae.py) fixes the latent space with its encoder and a reference decoder fed
with encoder latents. At inference, though, the decoder sees what the sampler made, which is never
quite the true latent of the in-between: motion is uncertain, so sampled latents are off where things
move. This stage decodes exactly those: for every training clip and in-between it samples the
baseline at its default steps and the student at its few steps (deterministic DDIM from seeded
noise, the studio's sampler; cached in <run>/samples_<split>.pt), and trains the decoder to rebuild
the true frame from a sampled latent (or, for some items, the encoder's own latent) and the two
keyframes. The encoder and denoisers stay frozen, so every denoiser variant of the pack keeps working.

Loss: L1 + Sobel-edge L1 on pixels, plus (when its weights are at hand) a perceptual term: LPIPS
with the SqueezeNet backbone (export_lpips.py; default weights ../shared/data/lpips, --lpips-weights
for others, --lpips 0 to leave it out). The pack is scored with LPIPS-AlexNet; `--lpips-net alex`
trains with that one instead (default weights lpips_alex_v0.1.safetensors beside the Squeeze ones).
`--psnr W` adds W × (−PSNR of each crop in dB) / 10, the report's own pixel measure (a mean of
per-image PSNR rewards the mean where the motion is uncertain, as L1 does not).
Seeded, checkpointed (<run>/decoder_last.pt, atomic) and
resumable; losses and validation PSNR (against frame blend on the same crops) go to
<run>/decoder_log.csv. Every --val-every steps the EMA decoder is also scored on whole validation
frames (the first --val-clips clips of the first set, their own size, the baseline's cached sample,
τ = ½), PSNR and LPIPS-Alex, next to the classical flow warp on the same frames when it has the motion
prior: the columns full_psnr / full_lpips / warp_psnr / warp_lpips. `--fit-val-clips N` adds N clips
scored in the report's own protocol (letterboxed into 512×320 and mapped back: fit_* / fitwarp_*).
`--motion` gives the decoder the motion graph's flows as a prior: Farnebäck's, a learned graph's
(`--motion-net`, or the one `--init` carries) or, with `--motion-fusion`, the pack's fused motion
(motion_fusion.py) around that learned graph.
`--still-share S` makes a share S of the crops still (held cels: decoder_data.still_crop), and
`--fitted P` shows a share P of the steps' crops as that fit shows frames smaller than 512×320 (resized
by a factor from `--zoom`, a latent the student samples there, the output resized back before the loss).
`--swap-consistency W` decodes every crop twice, as it is and with its keyframes swapped (the same latent,
τ → 1 − τ, the motion graph's two flows swapped), scores both and adds W × the mean |difference| of the
two outputs (the log's swap_gap): a decoder that favours one keyframe's slot pays for it.

    /usr/bin/python3 -m models.training.train_decoder --data data/procedural --vae runs/vae/vae_last.pt \\
        --denoiser runs/denoiser/denoiser_last.pt --student runs/student/student_last.pt --run runs/decoder
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from models.training.cel_model import CelConfig, CelDenoiser, FlowDecoder, MeanEncoder, reversed_motion
from models.training.decoder_data import (
    DecoderBatch,
    DecoderCrops,
    FittedBatch,
    Sampler,
    cache_motion,
    cache_samples,
    studio_resize,
)
from models.training.decoder_validation import FitValidation, FullValidation, Scores
from models.training.diffusion import Schedule
from models.training.flow_net import FlowNet, MotionGraph, load_motion_net
from models.training.latents import cache_latents, load_denoiser, load_mean_encoder, style_pairs, style_twins
from models.training.losses import LPIPS_DIR, crop_psnr_loss, perceptual_loss, sobel
from models.training.motion_fusion import OpenCVFusion, fuses, load_fusion
from models.training.trainlib import (
    Checkpoint,
    CsvLog,
    StepBudget,
    add_run_options,
    clip_frames,
    ema_update,
    lr_at,
    optimizer_step,
    pick_device,
    psnr,
    seeded,
    set_lr,
    to_float,
)

LOG_FIELDS = [
    "step",
    "loss",
    "l1",
    "edge",
    "lpips",
    "psnr",
    "swap_gap",
    "val_psnr",
    "blend_psnr",
    "full_psnr",
    "full_lpips",
    "warp_psnr",
    "warp_lpips",
    "fit_psnr",
    "fit_lpips",
    "fitwarp_psnr",
    "fitwarp_lpips",
    "lr",
    "seconds",
]
NO_SCORES = Scores(float("nan"), float("nan"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data",
        default="data/procedural",
        help="triplet set(s), comma-separated; each set's latents and samples are cached under its own name",
    )
    ap.add_argument("--vae", default="runs/vae/vae_last.pt")
    ap.add_argument("--denoiser", default="runs/denoiser/denoiser_last.pt")
    ap.add_argument("--student", default="runs/student/student_last.pt")
    ap.add_argument("--run", default="runs/decoder")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", default="20,24", help="latent crop h,w (pixels: 8×)")
    ap.add_argument("--baseline-steps", type=int, default=25)
    ap.add_argument("--student-steps", type=int, default=4)
    ap.add_argument("--baseline-clips", type=int, default=300, help="training clips sampled with the baseline")
    ap.add_argument("--student-clips", type=int, default=1000, help="training clips sampled with the student")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--lpips", type=float, default=0.5, help="weight of the LPIPS term (0: none)")
    ap.add_argument("--lpips-net", choices=["squeeze", "alex"], default="squeeze", help="the LPIPS backbone")
    ap.add_argument("--psnr", type=float, default=0.0, help="weight of the PSNR term (−dB / 10 per crop; 0: none)")
    ap.add_argument(
        "--lpips-weights",
        type=Path,
        default=None,
        help=f"LPIPS weights (default {LPIPS_DIR}/lpips_<net>_v0.1.safetensors)",
    )
    ap.add_argument("--samples", type=Path, default=None, help="folder of the sample caches (default: --run)")
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this decoder checkpoint's EMA weights (a second, fine-tuning stage)",
    )
    ap.add_argument(
        "--corr-radius",
        type=int,
        default=0,
        help="matching radius of the decoder's 1/16 cost volume in cells (0: no cost volume)",
    )
    ap.add_argument(
        "--motion",
        action="store_true",
        help="the decoder takes the motion graph's flows as a prior (--motion-net's learned graph, else the one "
        "--init carries, else Farnebäck's) and τ; --init may be a decoder without it",
    )
    ap.add_argument(
        "--motion-net",
        type=Path,
        default=None,
        help="with --motion: the prior comes from this learned motion graph (a flow_net.py checkpoint, or a decoder "
        "checkpoint that carries one) instead of Farnebäck's; the decoder's checkpoint carries it on (default: the "
        "one --init carries, if any)",
    )
    ap.add_argument(
        "--motion-fusion",
        type=Path,
        default=None,
        help="with --motion: the prior is this motion fusion's (a motion_fusion.py checkpoint: the learned graph's "
        "motion mixed with OpenCV's Farnebäck flows, as the pack's motion graph computes it) around the learned "
        "graph, which must be the one it was trained on; the checkpoint carries the learned graph on",
    )
    ap.add_argument(
        "--tone",
        action="store_true",
        help="the decoder recolours its output by a gain and offset per channel for the whole frame that it reads "
        "from its features (FlowDecoder tone=True), so a latent graded unlike the keyframes shows; --init may be a "
        "decoder without it (it starts as a no-op)",
    )
    ap.add_argument(
        "--gate",
        action="store_true",
        help="with --motion: the decoder gains its flow corrections per direction by 2·sigmoid of its features "
        "(FlowDecoder gate=True), so it can warp along the prior alone where the prior is right; --init may be a "
        "decoder without it (it starts as a no-op)",
    )
    ap.add_argument(
        "--blend-in-place",
        action="store_true",
        help="the keyframes' own pixels are one candidate, their blend at τ, not two (FlowDecoder "
        "blend_in_place=True): a held cel becomes the keyframes' mean; --init may be a decoder with the two "
        "(the blend's logit starts from theirs)",
    )
    ap.add_argument(
        "--fitted",
        type=float,
        default=0.0,
        help="share of steps whose crops are shown as the letterbox fit shows smaller frames (resized by "
        "--zoom; the output mapped back before the loss; latents sampled there by the student)",
    )
    ap.add_argument("--zoom", default="1.2,2.0", help="range of the fitted crops' resize factor")
    ap.add_argument(
        "--fit-val-clips",
        type=int,
        default=0,
        help="validation clips also scored in the report's protocol (letterboxed into 512×320, the baseline "
        "sampled there, mapped back; the set's last clips, which the report, scoring the first ones, "
        "leaves out): columns fit_psnr / fit_lpips / fitwarp_psnr / fitwarp_lpips",
    )
    ap.add_argument(
        "--style-pairs",
        default=None,
        metavar="STYLE:KEYS",
        help="style pairs: clips of the set STYLE (e.g. data/lineart_pairs, procedural.py --style lineart "
        "--seed 0) decoded from the keyframes of the same seed's clip in KEYS (one of --data, e.g. "
        "data/procedural) and the encoder's latent of STYLE's in-between, so that the decoder draws what the "
        "latent shows where it differs from the keyframes (a style LoRA's in-betweens; train_lora.py --keys-from)",
    )
    ap.add_argument("--style-share", type=float, default=0.2, help="share of steps on --style-pairs")
    ap.add_argument(
        "--style-lora",
        type=Path,
        default=None,
        help="with --style-pairs: a LoRA checkpoint (train_lora.py --keys-from) whose samples at scale 1 (the "
        "baseline's steps, from the KEYS twins' keyframes) most style items decode instead of the encoder's latent",
    )
    ap.add_argument("--style-lora-clips", type=int, default=200, help="style clips the --style-lora samples")
    ap.add_argument(
        "--still-share",
        type=float,
        default=0.0,
        help="share of the training crops made still: the start frame three times, or held everywhere but in a "
        "random rectangle where the clip moves (decoder_data.still_crop), with the encoder's latent of the start "
        "frame where it is held — held cels, where the right in-between is the keyframes' own pixels",
    )
    ap.add_argument(
        "--swap-consistency",
        type=float,
        default=0.0,
        help="decode every crop also with its keyframes swapped (the same latent, τ → 1 − τ, the motion graph's "
        "two flows swapped), score both, and add this weight × the mean |difference| of the two outputs (0: "
        "neither): the in-between does not depend on which keyframe came first",
    )
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--val-every", type=int, default=500, help="score whole validation frames every this many steps")
    ap.add_argument("--val-clips", type=int, default=40, help="validation clips scored whole (0: none)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    add_run_options(ap)
    ap.add_argument("--sample-group", type=int, default=16, help="clips of one size sampled together when caching")
    args = ap.parse_args(argv)
    if args.gate and not args.motion:
        ap.error("--gate gains the corrections of the motion graph's flows: it needs --motion")
    if args.motion_fusion and not args.motion:
        ap.error("--motion-fusion is the motion graph the prior comes from: it needs --motion")
    return args


class TrainingSets(NamedTuple):
    """Every set of --data merged, by split ("train", "val"): each clip's cached latents, the samplers'
    latents and its folder, and (with --motion) its classical flows. The first set's clips keep their
    names, the other sets' are named "<set>/<clip>"."""

    latents: dict
    samples: dict
    folders: dict
    motion: dict


def load_sets(args, samplers: dict[str, Sampler], scale: float, device) -> TrainingSets:
    """Caches (once) and loads every set's latents and samples; the perceptual loss is built between
    them and the flows, as it always was (fresh runs draw their initial weights after it)."""
    run = Path(args.run)
    cache_dir = Path(args.denoiser).parent
    # Each set's caches under its own name; the first set keeps the plain names (older runs resume as they
    # were), and the other sets' clips are named "<set>/<clip>".
    lat: dict = {"train": {}, "val": {}}
    samples: dict = {"train": {}, "val": {}}
    folders: dict = {"train": {}, "val": {}}
    for i, d in enumerate(Path(d) for d in args.data.split(",")):
        tag, prefix = ("", "") if i == 0 else (f"_{d.name}", f"{d.name}/")
        for split in ("val", "train"):
            part = cache_latents(d, split, Path(args.vae), cache_dir / f"latents_{split}{tag}.pt", device)["clips"]
            out = (args.samples or run) / f"samples_{split}{tag}.pt"
            smp = cache_samples(part, samplers, scale, out, args.seed, device, args.sample_group)
            lat[split].update({prefix + k: v for k, v in part.items()})
            samples[split].update({prefix + k: v for k, v in smp.items()})
            folders[split].update({prefix + k: d / split / k for k in part})
    return TrainingSets(lat, samples, folders, {"train": None, "val": None})


def motion_net(args) -> FlowNet | None:
    """The learned motion graph the decoder is trained with: --motion-net's, else the one --init carries,
    else none (Farnebäck's flows)."""
    if not args.motion:
        return None
    if args.motion_net:
        return load_motion_net(args.motion_net)
    if args.init and "motion_net" in (init := torch.load(args.init, map_location="cpu")):
        return load_motion_net(init)
    return None


def motion_graph(args, net: FlowNet | None) -> nn.Module | None:
    """The motion graph the prior comes from, (start, end) → flows [B,4,H,W]: --motion-fusion's fusion
    around `net` (OpenCV's flows computed here), else `net` alone, else Farnebäck's; None without --motion."""
    if not args.motion:
        return None
    if args.motion_fusion is None:
        return MotionGraph(net).eval()
    state = torch.load(args.motion_fusion, map_location="cpu")
    if net is None or not fuses(state, net):
        raise SystemExit(
            f"{args.motion_fusion} fuses another learned motion graph than the decoder's (--init / --motion-net)"
        )
    return OpenCVFusion(load_fusion(state, net)).eval()


def load_motion(args, sets: TrainingSets, net: FlowNet | None, graph: nn.Module | None, device) -> TrainingSets:
    """The sets with the clips' flows from the motion graph `graph` (cached once; with a learned graph
    `net`, the cache is named by a digest of the graph's weights: a fusion's by all of them), when the
    decoder takes them."""
    if graph is None:
        return sets
    tag = ""
    if net is not None:
        digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in graph.state_dict().values())).hexdigest()
        tag = f"_{'fusion' if args.motion_fusion else 'net'}{digest[:8]}"
    motion = {}
    for split in ("val", "train"):
        motion[split] = cache_motion(
            sets.folders[split], (args.samples or Path(args.run)) / f"motion_{split}{tag}.pt", device, graph
        )
    return sets._replace(motion=motion)


def style_crops(args, sets: TrainingSets, rng: random.Random, crop, device) -> DecoderCrops | None:
    """--style-pairs: crops of STYLE's training clips with their KEYS twins' keyframes and flows, and as
    the latent the encoder's of STYLE's in-between or (--style-lora, 70%) the LoRA's sample of it."""
    if not args.style_pairs:
        return None
    style_dir, keys_dir = (Path(p) for p in args.style_pairs.split(":"))
    data = [Path(d) for d in args.data.split(",")]
    if keys_dir not in data:
        raise SystemExit(f"--style-pairs: {keys_dir} is not one of --data")
    prefix = "" if data.index(keys_dir) == 0 else f"{keys_dir.name}/"
    keys = {
        k: v
        for k, v in sets.latents["train"].items()
        if k.startswith(prefix) and "/" not in k[len(prefix) :]  # noqa: E203
    }
    cache = Path(args.denoiser).parent / f"latents_train_{style_dir.name}.pt"
    clips = cache_latents(style_dir, "train", Path(args.vae), cache, device)["clips"]
    twins = style_twins(clips, keys)
    print(f"style pairs: {len(twins)} clips of {style_dir} on the keyframes of {keys_dir}", flush=True)
    # The clips as a sampler sees them: conditioned on their twins' (coloured) keyframes.
    paired = style_pairs(clips, keys, twins)
    samples, sources = {}, {"encoder": 1.0}
    if args.style_lora:
        state = torch.load(args.style_lora, map_location="cpu")
        lora = CelDenoiser(CelConfig.from_dict(state["config"], lora_dropout=0.0))
        lora.load_state_dict(state["model"])  # its adapters at live scale 1: the slider's 1
        sampler = {
            "lora": Sampler(lora.eval().requires_grad_(False).to(device), args.baseline_steps, args.style_lora_clips)
        }
        digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in state["model"].values())).hexdigest()[:8]
        out = (args.samples or Path(args.run)) / f"samples_train_{style_dir.name}_lora{digest}.pt"
        samples = cache_samples(paired, sampler, state["scale_factor"], out, args.seed, device, args.sample_group)
        sources = {"encoder": 0.3, "lora": 0.7}
    crops = DecoderCrops(
        {n: style_dir / "train" / n for n in twins},
        paired,
        samples,  # none for the encoder's latents, which the crops take from `paired`
        rng,
        sources,
        crop,
        {n: sets.motion["train"][t] for n, t in twins.items()} if args.motion else None,
        key_folders={n: sets.folders["train"][t] for n, t in twins.items()},
    )
    crops.preload([f for n in twins for f in clip_frames(style_dir / "train" / n)], workers=2 * args.threads)
    return crops


def init_decoder(args, config: dict) -> FlowDecoder:
    """A new FlowDecoder, or (--init) one from a decoder checkpoint's EMA weights: a decoder without the
    cost volume, the tone branch or the gate loads into one with it (that branch starts as a no-op), one with
    both in-place candidates into one with their blend (`FlowDecoder.load_narrowing`), one without
    the motion prior into one with it (it starts warping along the prior alone). A branch --init has and
    these options leave out is an error, not dropped."""
    dec = FlowDecoder(**config)
    if args.init:
        init = torch.load(args.init, map_location="cpu")
        init["ema"] = dec.load_narrowing(init["ema"])
        logits = (init["ema"]["out.weight"].shape[1] - 3, dec.out.weight.shape[1] - 3)
        if logits[0] != logits[1]:
            raise SystemExit(
                f"{args.init} chooses among {logits[0]} candidates, these options {logits[1]} (--blend-in-place?)"
            )
        extra = sorted({k.split(".")[0] for k in init["ema"]} - {k.split(".")[0] for k in dec.state_dict()})
        if extra:
            raise SystemExit(f"{args.init} has parts these options leave out: {extra} (--corr-radius, --tone, --gate?)")
        if args.motion and not init.get("decoder_config", {}).get("motion"):
            missing = dec.load_without_motion(init["ema"])
        else:
            missing = dec.load_state_dict(init["ema"], strict=False).missing_keys
        if any(k.split(".")[0] not in FlowDecoder.OPTIONAL_MODULES for k in missing):
            raise SystemExit(f"{args.init}: not a FlowDecoder checkpoint (missing {missing})")
    return dec


class CropValidation(NamedTuple):
    """Fixed validation crops (the baseline's latents, τ = ½) and frame blend's PSNR on them."""

    batch: DecoderBatch  # on the device, images as float
    blend: float

    @torch.no_grad()
    def psnr(self, dec) -> float:
        b = self.batch
        return psnr(dec(b.latent, b.start, b.end, *((b.motion, b.tau) if dec.motion else ())), b.middle)


def crop_validation(args, sets: TrainingSets, first_val: dict, crop, device) -> CropValidation:
    b = DecoderCrops(
        sets.folders["val"],
        first_val,
        sets.samples["val"],
        random.Random(1234),
        {"baseline": 1.0},
        crop,
        sets.motion["val"],
    ).batch(24, crop, mid_only=True)
    b = DecoderBatch(
        b.latent.to(device),
        to_float(b.start.to(device)),
        to_float(b.middle.to(device)),
        to_float(b.end.to(device)),
        b.motion.to(device) if args.motion else None,
        b.tau.to(device) if args.motion else None,
    )
    return CropValidation(b, psnr((b.start + b.end) / 2, b.middle))


@dataclass
class Validation:
    """What the trainer scores its EMA decoder on: fixed crops at every checkpoint, and every
    --val-every steps whole frames at their own size (`full`) and in the report's protocol
    (`fit`), each with the flow warp's scores on the same frames."""

    crops: CropValidation
    full: FullValidation | None
    full_warp: Scores
    fit: FitValidation | None
    fit_warp: Scores


def whole_frame_validation(args, sets: TrainingSets, first_val: dict, lpips_alex, device):
    names = sorted(n for n in first_val if "baseline" in sets.samples["val"].get(n, {}))[: args.val_clips]
    if not names:
        return None, NO_SCORES
    full = FullValidation(
        names, sets.folders["val"], sets.latents["val"], sets.samples["val"], sets.motion["val"], lpips_alex, device
    )
    warp = full.warp() if args.motion else NO_SCORES
    print(
        f"whole-frame validation on {len(names)} clips; flow warp {warp.psnr:.2f} dB / LPIPS-Alex {warp.lpips:.4f}",
        flush=True,
    )
    return full, warp


def report_protocol_validation(args, sets, first_val, encoder, base, scale, lpips_alex, graph, device):
    if args.fit_val_clips <= 0:
        return None, NO_SCORES
    names = sorted(first_val)[-args.fit_val_clips :]  # the last clips: the report scores the first ones
    fit = FitValidation(
        names,
        sets.folders["val"],
        encoder,
        base,
        scale,
        args.baseline_steps,
        lpips_alex,
        device,
        graph=graph,
    )
    warp = fit.warp() if args.motion else NO_SCORES
    print(
        f"report-protocol validation on {len(names)} clips; flow warp {warp.psnr:.2f} dB / LPIPS-Alex "
        f"{warp.lpips:.4f}",
        flush=True,
    )
    return fit, warp


def frozen_encoder(args, device) -> MeanEncoder | None:
    """The VAE's encoder (posterior mean), needed by the fitted crops and the report-protocol validation."""
    if args.fitted <= 0 and args.fit_val_clips <= 0:
        return None
    return load_mean_encoder(Path(args.vae), device)


@dataclass
class Frozen:
    """The frozen models a training step samples with, and the latent scale."""

    encoder: MeanEncoder | None
    student: CelDenoiser
    scale: float
    sched: Schedule


def fitted_output(args, dec, batch: FittedBatch, frozen: Frozen, rng: random.Random, crop, device):
    """As the studio runs a smaller frame: fitted keyframes, a latent sampled from them (the student's,
    or for some items the encoder's of the fitted middle frame), the output mapped back to the native
    target. Returns (output, target)."""
    s, mf, e, m, tau = (t.to(device) for t in (batch.start, batch.middle, batch.end, batch.target, batch.tau))
    with torch.no_grad():
        if rng.random() < 0.2:
            z = frozen.encoder(mf)
        else:
            g = torch.Generator().manual_seed(rng.randrange(2**31))
            noise = torch.randn((s.shape[0], 4, crop[0], crop[1]), generator=g).to(device)
            start, end = frozen.encoder(s) * frozen.scale, frozen.encoder(e) * frozen.scale
            z = frozen.sched.sample(frozen.student, start, end, tau, args.student_steps, noise) / frozen.scale
    y, m = decode(args, dec, z, s, e, batch.motion, tau, m)
    return studio_resize(y, tuple(m.shape[-2:])), m


def crop_output(args, dec, batch: DecoderBatch, device):
    """The decoder's output for native crops of a cached latent. Returns (output, target)."""
    z, s, m, e = (batch.latent.to(device), *(to_float(t.to(device)) for t in (batch.start, batch.middle, batch.end)))
    return decode(args, dec, z, s, e, batch.motion, batch.tau.to(device) if args.motion else None, m)


def decode(args, dec, z, s, e, motion, tau, m):
    """The decoder's output for a batch and its target; with --swap-consistency the batch is followed by its
    twin with the keyframes swapped (the same latent and target: played backwards, the in-between is the
    same frame at 1 − τ), so the output and target are twice as long. Returns (output, target)."""
    motion = motion.to(device=s.device) if args.motion else None
    if args.swap_consistency:
        z, m = torch.cat([z, z]), torch.cat([m, m])
        s, e = torch.cat([s, e]), torch.cat([e, s])
        if motion is not None:
            tau = torch.cat([tau, 1.0 - tau])
            motion = torch.cat([motion, reversed_motion(motion)])
    return dec(z, s, e, *((motion, tau) if args.motion else ())), m


def swap_gap(y: torch.Tensor) -> torch.Tensor:
    """Mean |difference| between the outputs of a batch and of its keyframes-swapped twin (`decode`)."""
    n = y.shape[0] // 2
    return (y[:n] - y[n:]).abs().mean()


class Losses(NamedTuple):
    total: torch.Tensor
    l1: torch.Tensor
    edge: torch.Tensor
    perceptual: torch.Tensor
    pixel: torch.Tensor  # −(mean crop PSNR in dB) / 10
    swap: torch.Tensor | None  # `swap_gap` with --swap-consistency, else None


def losses(args, y: torch.Tensor, m: torch.Tensor, lpips) -> Losses:
    """L1 + ½ Sobel-edge L1 + the LPIPS term + the PSNR term (+ the swap-consistency term)."""
    l1 = (y - m).abs().mean()
    edge = (sobel(y) - sobel(m)).abs().mean()
    perc = lpips(y, m) if lpips else torch.zeros(())
    pixel = crop_psnr_loss(y, m)
    total = l1 + 0.5 * edge + args.lpips * perc + args.psnr * pixel
    swap = swap_gap(y) if args.swap_consistency else None
    if swap is not None:
        total = total + args.swap_consistency * swap
    return Losses(total, l1, edge, perc, pixel, swap)


def elsewhere_note(init: str | None, note: str | None) -> str | None:
    """A decoder made outside the recipe (gpu_return.py marks it `made_elsewhere`) keeps what its note says
    in front of this stage's: "decoder: fine-tuned … on a GPU …, then its last stage …"."""
    if not init or not Path(init).exists():
        return note
    state = torch.load(init, map_location="cpu")
    if not state.get("made_elsewhere") or not state.get("note"):
        return note
    return f"{state['note']}, then {note.removeprefix('decoder: ')}" if note else state["note"]


def sets_note(args, sets: TrainingSets) -> str | None:
    """A stage on several sets names every one but the procedural set (the manifest's description names
    that) in the checkpoint's note with its number of training clips (build_pack.py puts the note in the
    manifest's description and licence: drawn sets carry their artwork's licence). A stage on one set
    (the recipe's procedural stages) has no note."""
    folders = args.data.split(",")
    if len(folders) < 2:
        return None
    named = []
    for i, d in enumerate(Path(d) for d in folders):
        if d.name == "procedural":
            continue
        n = sum(("/" not in k) if i == 0 else k.startswith(f"{d.name}/") for k in sets.latents["train"])
        named.append((d.name, n))
    if not named:
        return None
    sets = [f"{n} {name} clips" for name, n in named]
    return "decoder: its last stage also trained on " + " and ".join(
        [", ".join(sets[:-1]), sets[-1]] if sets[1:] else sets
    )


def scores_columns(prefix: str, scores: Scores | None, warp_prefix: str, warp: Scores) -> dict:
    """The log's columns for whole-frame scores taken this step (and the flow warp's beside them)."""
    if scores is None:
        return {}
    return {
        f"{prefix}_psnr": f"{scores.psnr:.4f}",
        f"{prefix}_lpips": f"{scores.lpips:.4f}",
        f"{warp_prefix}_psnr": f"{warp.psnr:.4f}",
        f"{warp_prefix}_lpips": f"{warp.lpips:.4f}",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = seeded(args.threads, args.seed)
    budget = StepBudget(args.minutes)
    device = pick_device(args.device)
    run = Path(args.run)
    crop = tuple(int(v) for v in args.crop.split(","))
    net = motion_net(args)
    graph = motion_graph(args, net)  # a fusion of another learned graph is refused before any sampling
    base, scale = load_denoiser(Path(args.denoiser))
    student, _ = load_denoiser(Path(args.student))
    samplers = {
        "baseline": Sampler(base.to(device), args.baseline_steps, args.baseline_clips),
        "student": Sampler(student.to(device), args.student_steps, args.student_clips),
    }
    sets = load_sets(args, samplers, scale, device)
    weights = args.lpips_weights or LPIPS_DIR / f"lpips_{args.lpips_net}_v0.1.safetensors"
    lpips = perceptual_loss(weights, device, args.lpips_net) if args.lpips > 0 else None
    print(f"perceptual term: {f'LPIPS-{args.lpips_net} × {args.lpips}' if lpips else 'none'}", flush=True)
    sets = load_motion(args, sets, net, graph, device)
    config = {
        "corr_radius": args.corr_radius,
        "motion": args.motion,
        **({"tone": True} if args.tone else {}),
        **({"gate": True} if args.gate else {}),
        **({"blend_in_place": True} if args.blend_in_place else {}),
    }
    dec = init_decoder(args, config).to(device)
    ema = copy.deepcopy(dec).eval()
    opt = torch.optim.AdamW(dec.parameters(), lr=args.lr, weight_decay=0.0)
    ckpt = Checkpoint(run, "decoder")
    step = ckpt.resume(rng, dec=dec, ema=ema, opt=opt)
    train = DecoderCrops(
        sets.folders["train"],
        sets.latents["train"],
        sets.samples["train"],
        rng,
        {"encoder": 0.2, "baseline": 0.45, "student": 0.35},
        crop,
        sets.motion["train"],
        still=args.still_share,
        graph=graph if args.still_share else None,
    )
    names = sorted(set().union(*train.names.values()))
    train.preload([f for name in names for f in clip_frames(sets.folders["train"][name])], workers=2 * args.threads)
    style = style_crops(args, sets, rng, crop, device)
    # Validation from the first set (the one the earlier runs validated on).
    first_val = {k: v for k, v in sets.latents["val"].items() if "/" not in k}
    crops = crop_validation(args, sets, first_val, crop, device)
    alex = LPIPS_DIR / "lpips_alex_v0.1.safetensors"
    lpips_alex = lpips if lpips and args.lpips_net == "alex" else perceptual_loss(alex, device, "alex")
    full, full_warp = whole_frame_validation(args, sets, first_val, lpips_alex, device)
    encoder = frozen_encoder(args, device)
    fit, fit_warp = report_protocol_validation(args, sets, first_val, encoder, base, scale, lpips_alex, graph, device)
    val = Validation(crops, full, full_warp, fit, fit_warp)
    frozen = Frozen(encoder, student, scale, Schedule())
    zoom = tuple(float(v) for v in args.zoom.split(","))
    log = CsvLog(run / "decoder_log.csv", LOG_FIELDS, step)
    note = sets_note(args, sets)
    if style is not None:
        drew = f"drew {len(style.folders)} {Path(args.style_pairs.split(':')[0]).name} clips from their latents"
        note = f"{note}, and {drew}" if note else f"decoder: its last stage also {drew}"
        note += " on their colour twins' keyframes"
    if args.still_share:
        still = f"{args.still_share:.0%} of its crops still"
        note = f"{note}, {still}" if note else f"decoder: its last stage made {still}"
    note = elsewhere_note(args.init, note)
    t0 = time.time()
    total = args.steps  # until the budget says otherwise
    while step < total:
        total = budget.total(step, args.steps)
        dec.train()
        lr = lr_at(step, total, args.lr)
        set_lr(opt, lr)
        if style is not None and rng.random() < args.style_share:
            y, m = crop_output(args, dec, style.batch(args.batch, crop), device)
        elif args.fitted > 0 and rng.random() < args.fitted:
            batch = train.fitted_batch(args.batch, crop, rng.uniform(*zoom))
            y, m = fitted_output(args, dec, batch, frozen, rng, crop, device)
        else:
            y, m = crop_output(args, dec, train.batch(args.batch, crop), device)
        loss = losses(args, y, m, lpips)
        optimizer_step(opt, loss.total, dec.parameters())
        ema_update(ema, dec, args.ema if step > 100 else 0.0)
        step += 1
        row = {
            "step": step,
            "loss": f"{loss.total.item():.5f}",
            "l1": f"{loss.l1.item():.5f}",
            "edge": f"{loss.edge.item():.5f}",
            "lpips": f"{loss.perceptual.item():.5f}",
            "psnr": f"{-10 * loss.pixel.item():.3f}",
            "swap_gap": f"{loss.swap.item():.5f}" if loss.swap is not None else "",
            "blend_psnr": f"{val.crops.blend:.2f}",
            "lr": f"{lr:.6f}",
        }
        scoring = step % args.val_every == 0 or step == total
        if val.full and scoring:
            whole = val.full.score(ema)
            row.update(scores_columns("full", whole, "warp", val.full_warp))
            print(
                f"step {step}: whole frames {whole.psnr:.4f} dB / LPIPS-Alex {whole.lpips:.4f} "
                f"(flow warp {val.full_warp.psnr:.2f} / {val.full_warp.lpips:.4f})",
                flush=True,
            )
        if val.fit and scoring:
            fitted = val.fit.score(ema)
            row.update(scores_columns("fit", fitted, "fitwarp", val.fit_warp))
            print(
                f"step {step}: report protocol {fitted.psnr:.4f} dB / LPIPS-Alex {fitted.lpips:.4f} "
                f"(flow warp {val.fit_warp.psnr:.2f} / {val.fit_warp.lpips:.4f})",
                flush=True,
            )
        if step % args.ckpt_every == 0 or step == total:
            row["val_psnr"] = f"{val.crops.psnr(ema):.2f}"
            extra = {"args": vars(args), "decoder_config": config, **({"note": note} if note else {})}
            if net is not None:
                extra["motion_net"] = net.state_dict()
            ckpt.save(step, rng, extra, dec=dec, ema=ema, opt=opt)
            print(
                f"step {step}: loss {loss.total.item():.4f} val PSNR {row['val_psnr']} dB "
                f"(blend {val.crops.blend:.2f}) ({time.time() - t0:.0f} s)",
                flush=True,
            )
        log.row({**row, "seconds": f"{time.time() - t0:.1f}"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

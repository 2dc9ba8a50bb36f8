"""Latent data the denoiser trainers share: the frozen VAE encoder's latents of every clip (cached once
per set and split), a trained denoiser loaded for sampling, and random latent crops with augmentation.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import torch

from models.training.cel_model import (
    LATENT_DOWNSAMPLE,
    CelConfig,
    CelDenoiser,
    CelEncoder,
    MeanEncoder,
    latent_motion,
    mirrored_motion,
    reversed_motion,
)
from models.training.flow_net import MotionGraph, load_motion_net
from models.training.trainlib import clip_frames, clip_targets, list_clips, load_rgb

# Latent crop sizes (h, w) a batch may use; every clip is at least 20×32 latents (160×256 px).
CROPS = [(20, 32), (32, 48)]


@torch.no_grad()
def cache_latents(data: Path, split: str, vae_ckpt: Path, out: Path, device: torch.device | str = "cpu") -> dict:
    """Encodes every clip's frames with the frozen VAE encoder (posterior mean), once; the cache
    holds CPU tensors whatever device encoded it: {"clips": {name: {"keys": [2, C, h, w] half,
    "targets": [T, C, h, w] half, "taus": [T]}}, "std": …, "mean": …} (std and mean of the keyframe
    latents)."""
    if out.exists():
        return torch.load(out, map_location="cpu")
    enc = CelEncoder()
    enc.load_state_dict(torch.load(vae_ckpt, map_location="cpu")["enc"])
    enc.eval().to(device)
    clips = {}
    found = list_clips(data, split)

    def load(clip: Path) -> torch.Tensor:
        return torch.stack([load_rgb(p) for p in clip_frames(clip)])

    with ThreadPoolExecutor(max_workers=8) as pool:  # PNG decoding releases the GIL
        for i in range(0, len(found), 64):  # in chunks: the decoded frames of a whole set need not fit in memory
            chunk = found[i : i + 64]
            for clip, x in zip(chunk, pool.map(load, chunk)):
                h, w = x.shape[-2] // 8 * 8, x.shape[-1] // 8 * 8
                lat = enc(x[:, :, :h, :w].to(device))[0].half().cpu()
                clips[clip.name] = {"keys": lat[:2], "targets": lat[2:], "taus": [t for _, t in clip_targets(clip)]}
    stacked = torch.cat([c["keys"].float().flatten() for c in clips.values()])
    result = {"clips": clips, "std": float(stacked.std()), "mean": float(stacked.mean())}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, out)
    return result


@torch.no_grad()
def cache_motion(data: Path, split: str, motion_src: Path, out: Path, device: torch.device | str = "cpu") -> dict:
    """The pack's motion graph (flow_net.py's, from a decoder or flow_net checkpoint `motion_src`) run
    once on every clip's keyframes, at the size `cache_latents` encodes, and averaged over latent
    cells (`latent_motion`): {"clips": {name: [4, h, w] half}} (flows start→end and end→start, in
    latent cells) for a motion-conditioned denoiser's training."""
    if out.exists():
        return torch.load(out, map_location="cpu")
    graph = MotionGraph(load_motion_net(motion_src)).eval().to(device)
    clips = {}
    for clip in list_clips(data, split):
        s, e = (load_rgb(p)[None] for p in clip_frames(clip)[:2])
        h, w = s.shape[-2] // 8 * 8, s.shape[-1] // 8 * 8
        s, e = s[..., :h, :w].to(device), e[..., :h, :w].to(device)
        clips[clip.name] = latent_motion(graph(s, e), LATENT_DOWNSAMPLE)[0].half().cpu()
    result = {"clips": clips, "source": str(motion_src)}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, out)
    return result


def cache_clips(
    data: Path,
    split: str,
    vae_ckpt: Path,
    cache_dir: Path,
    name: str,
    motion_src: Path | None = None,
    device: torch.device | str = "cpu",
) -> dict:
    """`cache_latents` into <cache_dir>/latents_<name>.pt and, with `motion_src`, each clip's motion
    (`cache_motion`, <cache_dir>/motion_<name>.pt) attached to its clip (`with_motion`)."""
    part = cache_latents(data, split, vae_ckpt, cache_dir / f"latents_{name}.pt", device)
    if motion_src is None:
        return part
    flows = cache_motion(data, split, motion_src, cache_dir / f"motion_{name}.pt", device)
    return {**part, "clips": with_motion(part["clips"], flows["clips"])}


def with_motion(clips: dict, motion: dict) -> dict:
    """`clips` (a latent cache's) with each clip's cached cell motion (`cache_motion`) as "motion"."""
    missing = sorted(set(clips) - set(motion))
    if missing:
        raise ValueError(f"no cached motion for {len(missing)} clips (first: {missing[0]})")
    return {k: {**c, "motion": motion[k]} for k, c in clips.items()}


def seed_of(name: str) -> str:
    """The seed part of a generated clip's name (`proc_0000123`, `lineart_0000123` -> `0000123`)."""
    return name.rsplit("_", 1)[-1]


def style_twins(clips: dict, key_clips: dict) -> dict:
    """{clip name: its keyframe twin's name}: the clip of the same seed in `key_clips` (cached latent
    clips of another set), when it has the same size and in-between positions. A style pair:
    `data/procedural.py` draws the same scene and motion for a seed in either style."""
    by_seed = {seed_of(n): n for n in key_clips}
    twins = {}
    for name, c in clips.items():
        t = by_seed.get(seed_of(name))
        if (
            t is not None
            and key_clips[t]["keys"].shape == c["keys"].shape
            and list(key_clips[t]["taus"]) == list(c["taus"])
        ):
            twins[name] = t
    if not twins:
        raise SystemExit("no clip has a keyframe twin of the same seed, size and in-between positions")
    return twins


def style_pairs(clips: dict, key_clips: dict, twins: dict | None = None) -> dict:
    """Cached latent clips whose keyframes are their twins' (`twins`, default `style_twins`; clips
    without one are left out), and so is their motion, when the twins carry it (`with_motion`)."""
    twins = style_twins(clips, key_clips) if twins is None else twins
    keyed = lambda c: {k: c[k] for k in ("keys", "motion") if k in c}  # noqa: E731
    return {n: {**clips[n], **keyed(key_clips[t])} for n, t in twins.items()}


def denoiser_from(state: dict) -> CelDenoiser:
    """The denoiser a loaded checkpoint holds, with its EMA weights."""
    model = CelDenoiser(CelConfig.from_dict(state["config"]))
    model.load_state_dict(state["ema"])
    return model


def load_denoiser(path: Path) -> tuple[CelDenoiser, float]:
    """A trained denoiser's EMA weights, frozen and in eval mode, and its latent scale factor."""
    state = torch.load(path, map_location="cpu")
    return denoiser_from(state).eval().requires_grad_(False), float(state["scale_factor"])


def load_mean_encoder(vae_ckpt: Path, device: torch.device | str = "cpu") -> MeanEncoder:
    """The VAE stage's encoder (posterior mean), frozen and in eval mode on `device`."""
    vae = CelEncoder()
    vae.load_state_dict(torch.load(vae_ckpt, map_location="cpu")["enc"])
    return MeanEncoder(vae).to(device).eval().requires_grad_(False)


class LatentCrop(NamedTuple):
    """Where one item of a LatentBatch came from: the clip, the index of its target (in-between) frame,
    the crop (latent cells) and the augmentation applied."""

    clip: str
    target: int
    y: int
    x: int
    h: int
    w: int
    flipped: bool
    reversed: bool


class LatentBatch(NamedTuple):
    """Scaled latent crops [B, C, h, w] of the keyframes and the in-between, its τ [B], and where each
    item came from."""

    start: torch.Tensor
    middle: torch.Tensor
    end: torch.Tensor
    tau: torch.Tensor
    crops: list[LatentCrop]
    # The keyframes' cell motion [B, 4, h, w] (flipped and reversed with the latents) when the clips
    # carry it (`with_motion`).
    motion: torch.Tensor | None = None


class LatentTriplets:
    """Random latent crops of cached clips with flips and time reversal (start ↔ end, τ → 1 − τ)."""

    def __init__(self, clips: dict, scale: float, rng: random.Random, mid_prob: float = 0.5):
        self.clips, self.scale, self.rng, self.mid_prob = clips, scale, rng, mid_prob
        self.names = sorted(clips)

    def batch(self, n: int, crop: tuple[int, int] | None = None) -> LatentBatch:
        ch, cw = crop or self.rng.choice(CROPS)
        names = [
            k for k in self.names if self.clips[k]["keys"].shape[-2] >= ch and self.clips[k]["keys"].shape[-1] >= cw
        ]
        s, m, e, taus, where, mot = [], [], [], [], [], []
        for _ in range(n):
            name = self.rng.choice(names)
            c = self.clips[name]
            k = 0 if len(c["taus"]) == 1 or self.rng.random() < self.mid_prob else self.rng.randrange(1, len(c["taus"]))
            lat = torch.cat([c["keys"][:1], c["targets"][k : k + 1], c["keys"][1:]]).float() * self.scale
            tau = c["taus"][k]
            _, _, h, w = lat.shape
            y, x = self.rng.randint(0, h - ch), self.rng.randint(0, w - cw)
            lat = lat[:, :, y : y + ch, x : x + cw]
            flow = c["motion"][:, y : y + ch, x : x + cw].float() if "motion" in c else None
            flip = self.rng.random() < 0.5
            if flip:
                lat = lat.flip(-1)
                if flow is not None:  # mirrored: x components change sign
                    flow = mirrored_motion(flow)
            rev = self.rng.random() < 0.5
            if rev:
                lat, tau = lat.flip(0), 1.0 - tau
                if flow is not None:  # start ↔ end: the two flows swap
                    flow = reversed_motion(flow)
            if flow is not None:
                mot.append(flow)
            s.append(lat[0])
            m.append(lat[1])
            e.append(lat[2])
            taus.append(tau)
            where.append(LatentCrop(name, k, y, x, ch, cw, flip, rev))
        return LatentBatch(
            torch.stack(s),
            torch.stack(m),
            torch.stack(e),
            torch.tensor(taus, dtype=torch.float32),
            where,
            torch.stack(mot) if mot else None,
        )

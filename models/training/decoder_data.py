"""The decoder trainer's data (train_decoder.py): the samplers' latents and the classical flows of
every clip, cached once; aligned crops of latents and frames with augmentation; and crops shown as the
studio's letterbox fit shows a smaller frame (its resize and 8-bit rounding).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from models.training.cel_model import CelDenoiser, mirrored_motion, reversed_motion
from models.training.diffusion import Schedule
from models.training.flow_net import MotionGraph
from models.training.trainlib import FrameCache, clip_targets, to_float


class Sampler(NamedTuple):
    """A denoiser that samples the latents the decoder trains on: `steps` DDIM steps, the first `clips`
    training clips."""

    model: CelDenoiser
    steps: int
    clips: int


class DecoderBatch(NamedTuple):
    """Aligned crops: latents [B, C, h, w] (from the encoder or a sampler), the keyframes and the
    in-between [B, 3, 8h, 8w] uint8, the classical flows [B, 4, 8h, 8w] and τ [B] (None without motion)."""

    latent: torch.Tensor
    start: torch.Tensor
    middle: torch.Tensor
    end: torch.Tensor
    motion: torch.Tensor | None
    tau: torch.Tensor | None


class FittedBatch(NamedTuple):
    """Crops as the letterbox fit shows a smaller frame: the keyframes and the in-between fitted (float
    [B, 3, 8h, 8w], resized and quantised), the native in-between [B, 3, rh, rw] (the target: the
    decoder's output is mapped back to it before the loss, as the report maps its in-betweens back),
    the fitted flows (None without motion) and τ [B]."""

    start: torch.Tensor
    middle: torch.Tensor
    end: torch.Tensor
    target: torch.Tensor
    motion: torch.Tensor | None
    tau: torch.Tensor


@torch.no_grad()
def cache_samples(
    latents: dict,
    samplers: dict[str, Sampler],
    scale: float,
    out: Path,
    seed: int,
    device: torch.device | str = "cpu",
    group_size: int = 16,
) -> dict:
    """{clip: {source: [targets, C, h, w] half}} for every sampler (by name): each samples every
    in-between of its first `clips` clips (sampling is the slow part on a
    CPU); up to `group_size` clips of one size are sampled together, on `device`. Noise is seeded per
    clip (drawn on the CPU): the cache is reproducible, and holds CPU tensors."""
    if out.exists():
        return torch.load(out, map_location="cpu")
    sched = Schedule()
    result: dict = {name: {} for name in latents}
    t0 = time.time()
    for source, sampler in samplers.items():
        by_shape: dict = {}
        for name in sorted(latents)[: sampler.clips]:
            c = latents[name]
            by_shape.setdefault((tuple(c["keys"].shape[-2:]), len(c["taus"])), []).append(name)
        done = 0
        for (_, n_targets), names in by_shape.items():
            for i in range(0, len(names), group_size):
                group = names[i : i + group_size]
                keys = torch.stack([latents[n]["keys"].float() for n in group]) * scale  # [G, 2, C, h, w]
                s = keys[:, 0].repeat_interleave(n_targets, 0)
                e = keys[:, 1].repeat_interleave(n_targets, 0)
                tau = torch.tensor([t for n in group for t in latents[n]["taus"]], dtype=torch.float32)
                noise = torch.cat(
                    [
                        torch.randn(
                            (n_targets, *s.shape[1:]),
                            generator=torch.Generator().manual_seed(seed + sum(map(ord, n)) * 7919),
                        )
                        for n in group
                    ]
                )
                x0 = (
                    sched.sample(
                        sampler.model, s.to(device), e.to(device), tau.to(device), sampler.steps, noise.to(device)
                    ).cpu()
                    / scale
                )
                for j, n in enumerate(group):
                    result[n][source] = x0[j * n_targets : (j + 1) * n_targets].half()
                done += len(group)
            print(f"  {source}: sampled {done} clips ({time.time() - t0:.0f} s)", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, out)
    return result


@torch.no_grad()
def cache_motion(folders: dict, out: Path, device: torch.device | str = "cpu", graph=None) -> dict:
    """{clip: [4, H, W] half}: the flows start→end and end→start of every clip's full keyframes as the
    pack's motion graph computes them (`graph`, a flow_net.MotionGraph; default Farnebäck's), cached in
    `out` (clips the cache lacks — another set of `--data` — are added to it)."""
    result = torch.load(out, map_location="cpu") if out.exists() else {}
    todo = sorted((n, c) for n, c in folders.items() if n not in result)
    if not todo:
        return result
    graph = (graph or MotionGraph()).to(device).eval()
    frames = FrameCache()
    t0 = time.time()
    with torch.no_grad():
        for i, (name, clip) in enumerate(todo):
            a = to_float(frames.raw(clip / "frame1.png")[None].to(device))
            b = to_float(frames.raw(clip / "frame3.png")[None].to(device))
            result[name] = graph(a, b)[0].cpu().half()
            if (i + 1) % 250 == 0:
                print(f"  motion: {i + 1} clips ({time.time() - t0:.0f} s)", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, out)
    return result


def studio_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The studio's resizeImage (src/core/image.ts) for factors up to 2 either way: bilinear with
    half-pixel centres and clamped edges, no antialiasing (it averages areas only beyond 2×)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] rounded to uint8 levels, as the studio's fitted keyframes and frames are."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def resize_flows(flows: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flows [B, 2k, h, w] in pixels (x, y pairs) resized to `size`, their vectors scaled with it."""
    h, w = flows.shape[-2:]
    k = torch.tensor([size[1] / w, size[0] / h] * (flows.shape[1] // 2), dtype=flows.dtype, device=flows.device)
    return studio_resize(flows, size) * k.view(1, -1, 1, 1)


def flip_and_reverse(rng: random.Random, frames: list, flows, tau: float, z=None):
    """A random horizontal flip (flows' x components negated) and time reversal (start and end
    swapped, τ → 1 − τ, the two flows swapped) of a crop's [start, in-between, end]; the latent `z`,
    when given, flips with the frames (played backwards, the in-between's latent is the same)."""
    if rng.random() < 0.5:
        frames = [f.flip(-1) for f in frames]
        z = z.flip(-1) if z is not None else None
        if flows is not None:
            flows = mirrored_motion(flows)
    if rng.random() < 0.5:
        frames, tau = frames[::-1], 1.0 - tau
        if flows is not None:
            flows = reversed_motion(flows)
    return frames, flows, tau, z


def still_crop(rng: random.Random, frames: list, flows=None, graph=None, cell: int = 1):
    """A still crop (the trainers' `--still-share`) of [start, in-between, end] and their flows: half the
    time the start frame three times, with zero flows (the region returned is None); else the start frame
    held everywhere but in a random rectangle, where the clip moves as it did (the region returned, in
    units of `cell` px: latent cells, so that a latent can be held the same way), with the flows of
    `graph` (a motion graph) on the held keyframes, or without one `flows` inside the rectangle and zero
    outside — held cels, where the right in-between is the keyframes' pixels. `flows` None stays None.
    Returns (frames, flows, region)."""
    start = frames[0]
    if rng.random() < 0.5:
        return [start, start.clone(), start.clone()], None if flows is None else torch.zeros_like(flows), None
    h, w = start.shape[-2] // cell, start.shape[-1] // cell
    rh, rw = rng.randint(h // 6, h // 2), rng.randint(w // 6, w // 2)
    ry, rx = rng.randint(0, h - rh), rng.randint(0, w - rw)
    region = (slice(ry, ry + rh), slice(rx, rx + rw))
    frames = [held(start, f, region, cell) for f in frames]
    if flows is not None and graph is not None:
        with torch.no_grad():
            flows = graph(to_float(frames[0][None]), to_float(frames[2][None]))[0]
    elif flows is not None:
        flows = held(torch.zeros_like(flows), flows, region, cell)
    return frames, flows, region


def held(still: torch.Tensor, moving: torch.Tensor, region: tuple[slice, slice], cell: int = 1) -> torch.Tensor:
    """`still` with `moving` inside `region` (slices in units of `cell` px of the last two dimensions)."""
    rows, cols = (slice(s.start * cell, s.stop * cell) for s in region)
    out = still.clone()
    out[..., rows, cols] = moving[..., rows, cols]
    return out


class DecoderCrops(FrameCache):
    """Aligned crops (latent from a source, start, target, end) with flips and time reversal.

    `folders` maps each clip's name to its folder (the sets may lie in several places). Clips smaller
    than the crop are left out. `key_folders` (a style pair's clips) maps a clip's name to the folder
    its keyframes come from instead (its in-between and latent stay its own; `motion` holds the flows of
    those keyframes under the clip's name). A share `still` of the crops is made still (`still_crop`):
    the latent is then the encoder's of the start frame (inside a held crop's moving rectangle, the
    source's latent as it was), the flows zero (a held crop's from `graph`, a motion graph, when given;
    else the clip's inside the rectangle and zero outside)."""

    def __init__(
        self,
        folders: dict,
        latents: dict,
        samples: dict,
        rng: random.Random,
        source_probs: dict,
        crop: tuple[int, int],
        motion: dict | None = None,
        key_folders: dict | None = None,
        still: float = 0.0,
        graph: MotionGraph | None = None,
    ):
        super().__init__()
        self.still, self.graph = still, graph
        self.folders, self.motion, self.key_folders = folders, motion, key_folders or {}
        self.latents, self.samples, self.rng = latents, samples, rng
        self.sources, self.probs = list(source_probs), list(source_probs.values())
        fits = [n for n, c in latents.items() if c["keys"].shape[-2] >= crop[0] and c["keys"].shape[-1] >= crop[1]]
        self.names = {src: sorted(n for n in fits if src == "encoder" or src in samples[n]) for src in self.sources}
        for src, names in self.names.items():
            if not names:
                raise SystemExit(f"no clip of at least {crop[0] * 8}×{crop[1] * 8} px has {src} latents")

    def augment(self, frames: list, flows, tau: float, z=None):
        return flip_and_reverse(self.rng, frames, flows, tau, z)

    def batch(self, n: int, crop: tuple[int, int], mid_only: bool = False) -> DecoderBatch:
        """Crops on the CPU, images as uint8 (`to_float` converts them); motion (the clips' classical
        flows, cropped) and τ are None without `motion`."""
        ch, cw = crop
        zs, ss, ms, es, fs, ts = [], [], [], [], [], []
        for _ in range(n):
            source = self.rng.choices(self.sources, self.probs)[0]
            name = self.rng.choice(self.names[source])
            c = self.latents[name]
            k = (
                0
                if mid_only or len(c["taus"]) == 1 or self.rng.random() < 0.5
                else self.rng.randrange(1, len(c["taus"]))
            )
            z = (c["targets"][k] if source == "encoder" else self.samples[name][source][k]).float()
            clip = self.folders[name]
            keys = self.key_folders.get(name, clip)
            frames = [self.raw(keys / "frame1.png"), self.raw(clip_targets(clip)[k][0]), self.raw(keys / "frame3.png")]
            h, w = z.shape[-2:]
            y, x = self.rng.randint(0, h - ch), self.rng.randint(0, w - cw)
            z = z[:, y : y + ch, x : x + cw]
            frames = [f[:, 8 * y : 8 * (y + ch), 8 * x : 8 * (x + cw)] for f in frames]
            tau = float(c["taus"][k])
            flows = self.motion[name][:, 8 * y : 8 * (y + ch), 8 * x : 8 * (x + cw)].float() if self.motion else None
            if self.still and self.rng.random() < self.still:
                frames, flows, z = self.stilled(frames, flows, z, c["keys"][0][:, y : y + ch, x : x + cw].float())
            frames, flows, tau, z = self.augment(frames, flows, tau, z)
            fs.append(flows)
            ts.append(tau)
            zs.append(z)
            ss.append(frames[0])
            ms.append(frames[1])
            es.append(frames[2])
        motion, tau = (torch.stack(fs), torch.tensor(ts)) if self.motion else (None, None)
        return DecoderBatch(torch.stack(zs), torch.stack(ss), torch.stack(ms), torch.stack(es), motion, tau)

    def stilled(self, frames: list, flows, z: torch.Tensor, start_z: torch.Tensor):
        """A still crop (`still_crop`) with its latent: `start_z` (the encoder's latent of the start frame)
        where it is held, `z` inside a held crop's moving rectangle. Returns (frames, flows, latent)."""
        frames, flows, region = still_crop(self.rng, frames, flows, self.graph, cell=8)
        return frames, flows, start_z if region is None else held(start_z, z, region)

    def fitted_batch(self, n: int, crop: tuple[int, int], zoom: float) -> FittedBatch:
        """Crops as the studio's letterbox fit shows a frame smaller than the pack's: a native region of
        about (8·h / zoom) × (8·w / zoom) px resized to the crop's 8h × 8w px (`studio_resize`, quantised),
        its classical flows resized and scaled with it (see FittedBatch). No latent: the caller encodes
        the fitted keyframes and samples one (train_decoder.fitted_output)."""
        ch, cw = crop
        size = (8 * ch, 8 * cw)
        rh, rw = round(size[0] / zoom), round(size[1] / zoom)
        names = self.names["encoder"] if "encoder" in self.names else sorted(set().union(*self.names.values()))
        ss, ms, es, natives, fs, ts = [], [], [], [], [], []
        for _ in range(n):
            name = self.rng.choice(names)
            c, clip = self.latents[name], self.folders[name]
            k = 0 if len(c["taus"]) == 1 or self.rng.random() < 0.5 else self.rng.randrange(1, len(c["taus"]))
            frames = [self.raw(clip / "frame1.png"), self.raw(clip_targets(clip)[k][0]), self.raw(clip / "frame3.png")]
            h, w = frames[0].shape[-2:]
            y, x = self.rng.randint(0, h - rh), self.rng.randint(0, w - rw)
            frames = [f[:, y : y + rh, x : x + rw] for f in frames]
            tau = float(c["taus"][k])
            flows = self.motion[name][:, y : y + rh, x : x + rw].float() if self.motion else None
            frames, flows, tau, _ = self.augment(frames, flows, tau)
            native = [to_float(f[None]) for f in frames]
            ss.append(quantize(studio_resize(native[0], size)))
            ms.append(quantize(studio_resize(native[1], size)))
            es.append(quantize(studio_resize(native[2], size)))
            natives.append(native[1])
            fs.append(resize_flows(flows[None], size) if flows is not None else None)
            ts.append(tau)
        motion = torch.cat(fs) if self.motion else None
        return FittedBatch(torch.cat(ss), torch.cat(ms), torch.cat(es), torch.cat(natives), motion, torch.tensor(ts))

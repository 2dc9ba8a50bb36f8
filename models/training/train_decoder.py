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
scored in the report's own protocol (letterboxed into 512×320 and mapped back: fit_* / fitwarp_*), and
`--fitted P` shows a share P of the steps' crops as that fit shows frames smaller than 512×320 (resized
by a factor from `--zoom`, a latent the student samples there, the output resized back before the loss).

    /usr/bin/python3 models/training/train_decoder.py --data data/procedural --vae runs/vae/vae_last.pt \\
        --denoiser runs/denoiser/denoiser_last.pt --student runs/student/student_last.pt --run runs/decoder
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cel_model import CelEncoder, FlowDecoder, MeanEncoder  # noqa: E402
from classical_flow import Farneback, halfway_warp  # noqa: E402
from diffusion import Schedule  # noqa: E402
from train_denoiser import cache_latents, load_denoiser  # noqa: E402
from train_vae import sobel  # noqa: E402
from trainlib import (Checkpoint, CsvLog, FrameCache, StepBudget, add_run_options, clip_frames,  # noqa: E402
                      clip_targets, ema_update, load_rgb, lr_at, optimizer_step, pick_device, psnr, seeded, set_lr,
                      to_float)

LPIPS_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "lpips"


def perceptual_loss(weights: Path | None, device: torch.device | str = "cpu", backbone: str = "squeeze"):
    """LPIPS (`backbone`: squeeze or alex) as a loss (mean over the batch), or None when no weights are
    given / found."""
    if weights is None or not weights.exists():
        return None
    from export_lpips import build_model  # noqa: E402 (only when used)
    net = build_model(backbone, [weights]).to(device)
    return lambda a, b: sum(m.mean() for m in net.layer_maps(a, b))


@torch.no_grad()
def cache_samples(latents: dict, samplers: dict, scale: float, out: Path, seed: int,
                  device: torch.device | str = "cpu", group_size: int = 16) -> dict:
    """{clip: {source: [targets, C, h, w] half}} for every sampler (name -> (model, steps, clips)):
    each sampler samples every in-between of its first `clips` clips (sampling is the slow part on a
    CPU); up to `group_size` clips of one size are sampled together, on `device`. Noise is seeded per
    clip (drawn on the CPU): the cache is reproducible, and holds CPU tensors."""
    if out.exists():
        return torch.load(out, map_location="cpu")
    sched = Schedule()
    result: dict = {name: {} for name in latents}
    t0 = time.time()
    for source, (model, steps, limit) in samplers.items():
        by_shape: dict = {}
        for name in sorted(latents)[:limit]:
            c = latents[name]
            by_shape.setdefault((tuple(c["keys"].shape[-2:]), len(c["taus"])), []).append(name)
        done = 0
        for (_, n_targets), names in by_shape.items():
            for i in range(0, len(names), group_size):
                group = names[i:i + group_size]
                keys = torch.stack([latents[n]["keys"].float() for n in group]) * scale  # [G, 2, C, h, w]
                s = keys[:, 0].repeat_interleave(n_targets, 0)
                e = keys[:, 1].repeat_interleave(n_targets, 0)
                tau = torch.tensor([t for n in group for t in latents[n]["taus"]], dtype=torch.float32)
                noise = torch.cat([torch.randn((n_targets, *s.shape[1:]), generator=torch.Generator().manual_seed(
                    seed + sum(map(ord, n)) * 7919)) for n in group])
                x0 = sched.sample(model, s.to(device), e.to(device), tau.to(device), steps, noise.to(device)).cpu() / scale
                for j, n in enumerate(group):
                    result[n][source] = x0[j * n_targets:(j + 1) * n_targets].half()
                done += len(group)
            print(f"  {source}: sampled {done} clips ({time.time() - t0:.0f} s)", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, out)
    return result


@torch.no_grad()
def cache_motion(folders: dict, out: Path, device: torch.device | str = "cpu") -> dict:
    """{clip: [4, H, W] half}: the classical flows start→end and end→start of every clip's full keyframes
    (classical_flow.Farneback, as the pack's motion graph computes them), cached in `out` (clips the
    cache lacks — another set of `--data` — are added to it)."""
    result = torch.load(out, map_location="cpu") if out.exists() else {}
    todo = sorted((n, c) for n, c in folders.items() if n not in result)
    if not todo:
        return result
    flow = Farneback().to(device)
    frames = FrameCache()
    t0 = time.time()
    for i, (name, clip) in enumerate(todo):
        a = to_float(frames.raw(clip / "frame1.png")[None].to(device))
        b = to_float(frames.raw(clip / "frame3.png")[None].to(device))
        f = flow(torch.cat([a, b]), torch.cat([b, a]))
        result[name] = torch.cat([f[0], f[1]]).cpu().half()
        if (i + 1) % 250 == 0:
            print(f"  motion: {i + 1} clips ({time.time() - t0:.0f} s)", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, out)
    return result


def crop_psnr_loss(y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """−(mean over the batch of each image's PSNR in dB) / 10, for images in [-1, 1]."""
    return torch.log10(((y - m) / 2).pow(2).flatten(1).mean(1) + 1e-8).mean()


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


def mean_scores(outputs, lpips_alex) -> tuple[float, float]:
    """(mean PSNR, mean LPIPS-Alex or nan) of (output, true frame) pairs, outputs clamped to [-1, 1]."""
    ps, ls = [], []
    for y, m in outputs:
        y = y.clamp(-1, 1)
        ps.append(psnr(y, m))
        ls.append(lpips_alex(y, m).item() if lpips_alex else float("nan"))
    return sum(ps) / len(ps), sum(ls) / len(ls)


class FitValidation:
    """Whole validation frames in the report's protocol (scripts/evaluate-pack.ts): the keyframes
    letterboxed into the pack's frame (resized, quantised, centred on white), the pack's motion
    graph's flows computed there (Farnebäck), the baseline's in-between at τ = ½ sampled there (25
    DDIM steps from seeded noise), decoded, and mapped back to the clip's own size to be scored
    against its true middle frame. `score` gives (mean PSNR, mean LPIPS-Alex or nan); `warp` the
    classical flow warp made and mapped back the same way (the report's flow-warp anchor)."""

    def __init__(self, names: list, folders: dict, encoder, baseline, scale: float, steps: int, lpips_alex,
                 device, frame: tuple[int, int] = (320, 512), seed: int = 42):
        self.items, self.lpips, self.device = [], lpips_alex, device
        fh, fw = frame
        flow, sched = Farneback().to(device), Schedule()
        with torch.no_grad():
            for n in names:
                s, e, m = (load_rgb(folders[n] / f)[None].to(device) for f in ("frame1.png", "frame3.png", "frame2.png"))
                h, w = m.shape[-2:]
                k = min(fw / w, fh / h)
                sh, sw = min(fh, max(1, round(h * k))), min(fw, max(1, round(w * k)))
                oy, ox = (fh - sh) // 2, (fw - sw) // 2

                def fit(x):
                    out = torch.ones((1, 3, fh, fw), device=device)
                    out[:, :, oy:oy + sh, ox:ox + sw] = quantize(studio_resize(x, (sh, sw)))
                    return out

                fs, fe = fit(s), fit(e)
                f = flow(torch.cat([fs, fe]), torch.cat([fe, fs]))
                motion = torch.cat([f[0], f[1]])[None]
                noise = torch.randn((1, 4, fh // 8, fw // 8), generator=torch.Generator().manual_seed(seed)).to(device)
                z = sched.sample(baseline, encoder(fs) * scale, encoder(fe) * scale, torch.tensor([0.5], device=device),
                                 steps, noise) / scale
                self.items.append((z, fs, fe, motion, m, (oy, ox, sh, sw)))

    def _restore(self, y: torch.Tensor, m: torch.Tensor, box) -> torch.Tensor:
        oy, ox, sh, sw = box
        return quantize(studio_resize(y.clamp(-1, 1)[:, :, oy:oy + sh, ox:ox + sw], tuple(m.shape[-2:])))

    @torch.no_grad()
    def score(self, dec) -> tuple[float, float]:
        tau = torch.tensor([0.5], device=self.device)
        return mean_scores(((self._restore(dec(z, s, e, *((f, tau) if dec.motion else ())), m, box), m)
                            for z, s, e, f, m, box in self.items), self.lpips)

    @torch.no_grad()
    def warp(self) -> tuple[float, float]:
        return mean_scores(((self._restore(halfway_warp(s, e, f[:, :2], f[:, 2:]), m, box), m)
                            for _, s, e, f, m, box in self.items), self.lpips)


class FullValidation:
    """Whole validation frames at their own size (cropped to a multiple of 8): each clip's true middle
    frame against the decoder's output from the baseline's cached sample at τ = ½ — the report's
    protocol without the fit to the pack size. `score` gives (mean PSNR, mean LPIPS-Alex or nan);
    `warp` scores the classical flow warp (both keyframes along the cached Farnebäck flows, halfway,
    averaged) on the same frames."""

    def __init__(self, names: list, folders: dict, latents: dict, samples: dict, motion: dict | None,
                 lpips_alex, device):
        self.items, self.lpips, self.device = [], lpips_alex, device
        for n in names:
            c = latents[n]
            h, w = c["keys"].shape[-2] * 8, c["keys"].shape[-1] * 8
            s, e, m = (load_rgb(p)[:, :h, :w][None].to(device) for p in
                       (folders[n] / "frame1.png", folders[n] / "frame3.png", folders[n] / "frame2.png"))
            f = motion[n][:, :h, :w].float()[None].to(device) if motion else None
            self.items.append((samples[n]["baseline"][:1].float().to(device), s, e, m, f))

    @torch.no_grad()
    def score(self, dec) -> tuple[float, float]:
        tau = torch.tensor([0.5], device=self.device)
        return mean_scores(((dec(z, s, e, *((f, tau) if dec.motion else ())), m) for z, s, e, m, f in self.items),
                           self.lpips)

    @torch.no_grad()
    def warp(self) -> tuple[float, float]:
        return mean_scores(((halfway_warp(s, e, f[:, :2], f[:, 2:]), m) for _, s, e, m, f in self.items), self.lpips)


class DecoderCrops(FrameCache):
    """Aligned crops (latent from a source, start, target, end) with flips and time reversal.

    `folders` maps each clip's name to its folder (the sets may lie in several places). Clips smaller
    than the crop are left out."""

    def __init__(self, folders: dict, latents: dict, samples: dict, rng: random.Random, source_probs: dict,
                 crop: tuple[int, int], motion: dict | None = None):
        super().__init__()
        self.folders, self.motion = folders, motion
        self.latents, self.samples, self.rng = latents, samples, rng
        self.sources, self.probs = list(source_probs), list(source_probs.values())
        fits = [n for n, c in latents.items() if c["keys"].shape[-2] >= crop[0] and c["keys"].shape[-1] >= crop[1]]
        self.names = {src: sorted(n for n in fits if src == "encoder" or src in samples[n]) for src in self.sources}
        for src, names in self.names.items():
            if not names:
                raise SystemExit(f"no clip of at least {crop[0] * 8}×{crop[1] * 8} px has {src} latents")

    def augment(self, frames: list, flows, tau: float, z=None):
        """A random horizontal flip (flows' x components negated) and time reversal (start and end
        swapped, τ → 1 − τ, the two flows swapped); the latent `z`, when given, flips with the frames
        (played backwards, the in-between's latent is the same)."""
        if self.rng.random() < 0.5:
            frames = [f.flip(-1) for f in frames]
            z = z.flip(-1) if z is not None else None
            if flows is not None:
                flows = flows.flip(-1) * torch.tensor([-1.0, 1.0, -1.0, 1.0]).view(4, 1, 1)
        if self.rng.random() < 0.5:
            frames, tau = frames[::-1], 1.0 - tau
            if flows is not None:
                flows = torch.cat([flows[2:], flows[:2]])
        return frames, flows, tau, z

    def batch(self, n: int, crop: tuple[int, int], mid_only: bool = False):
        """(latents, start, middle, end, motion, τ) on the CPU; images as uint8 (`to_float` converts them);
        motion (the clip's classical flows, cropped) and τ are None without `motion`."""
        ch, cw = crop
        zs, ss, ms, es, fs, ts = [], [], [], [], [], []
        for _ in range(n):
            source = self.rng.choices(self.sources, self.probs)[0]
            name = self.rng.choice(self.names[source])
            c = self.latents[name]
            k = 0 if mid_only or len(c["taus"]) == 1 or self.rng.random() < 0.5 else self.rng.randrange(1, len(c["taus"]))
            z = (c["targets"][k] if source == "encoder" else self.samples[name][source][k]).float()
            clip = self.folders[name]
            frames = [self.raw(clip / "frame1.png"), self.raw(clip_targets(clip)[k][0]), self.raw(clip / "frame3.png")]
            h, w = z.shape[-2:]
            y, x = self.rng.randint(0, h - ch), self.rng.randint(0, w - cw)
            z = z[:, y:y + ch, x:x + cw]
            frames = [f[:, 8 * y:8 * (y + ch), 8 * x:8 * (x + cw)] for f in frames]
            tau = float(c["taus"][k])
            flows = self.motion[name][:, 8 * y:8 * (y + ch), 8 * x:8 * (x + cw)].float() if self.motion else None
            frames, flows, tau, z = self.augment(frames, flows, tau, z)
            fs.append(flows)
            ts.append(tau)
            zs.append(z)
            ss.append(frames[0])
            ms.append(frames[1])
            es.append(frames[2])
        motion = (torch.stack(fs), torch.tensor(ts)) if self.motion else (None, None)
        return (torch.stack(zs), torch.stack(ss), torch.stack(ms), torch.stack(es)) + motion

    def fitted_batch(self, n: int, crop: tuple[int, int], zoom: float):
        """Crops as the studio's letterbox fit shows a frame smaller than the pack's: a native region of
        about (8·h / zoom) × (8·w / zoom) px resized to the crop's 8h × 8w px (`studio_resize`, quantised),
        its classical flows resized and scaled with it. Returns (start, middle, end) fitted, float
        [n, 3, 8h, 8w]; the native middle frames [n, 3, rh, rw] (the target: the decoder's output is
        mapped back to them before the loss, as the report maps its in-betweens back); motion; τ. No
        latent: the caller encodes the fitted keyframes and samples one (see main)."""
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
            frames = [f[:, y:y + rh, x:x + rw] for f in frames]
            tau = float(c["taus"][k])
            flows = self.motion[name][:, y:y + rh, x:x + rw].float() if self.motion else None
            frames, flows, tau, _ = self.augment(frames, flows, tau)
            native = [to_float(f[None]) for f in frames]
            ss.append(quantize(studio_resize(native[0], size)))
            ms.append(quantize(studio_resize(native[1], size)))
            es.append(quantize(studio_resize(native[2], size)))
            natives.append(native[1])
            fs.append(resize_flows(flows[None], size) if flows is not None else None)
            ts.append(tau)
        motion = (torch.cat(fs), torch.tensor(ts)) if self.motion else (None, torch.tensor(ts))
        return (torch.cat(ss), torch.cat(ms), torch.cat(es), torch.cat(natives)) + motion


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/procedural",
                    help="triplet set(s), comma-separated; each set's latents and samples are cached under its own name")
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
    ap.add_argument("--lpips-weights", type=Path, default=None,
                    help=f"LPIPS weights (default {LPIPS_DIR}/lpips_<net>_v0.1.safetensors)")
    ap.add_argument("--samples", type=Path, default=None, help="folder of the sample caches (default: --run)")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this decoder checkpoint's EMA weights (a second, fine-tuning stage)")
    ap.add_argument("--corr-radius", type=int, default=0,
                    help="matching radius of the decoder's 1/16 cost volume in cells (0: no cost volume)")
    ap.add_argument("--motion", action="store_true",
                    help="the decoder takes the classical flow prior (the pack's motion graph) and τ; --init may be a decoder without it")
    ap.add_argument("--fitted", type=float, default=0.0,
                    help="share of steps whose crops are shown as the letterbox fit shows smaller frames (resized by "
                         "--zoom; the output mapped back before the loss; latents sampled there by the student)")
    ap.add_argument("--zoom", default="1.2,2.0", help="range of the fitted crops' resize factor")
    ap.add_argument("--fit-val-clips", type=int, default=0,
                    help="validation clips also scored in the report's protocol (letterboxed into 512×320, the baseline "
                         "sampled there, mapped back; the set's last clips, which the report, scoring the first ones, "
                         "leaves out): columns fit_psnr / fit_lpips / fitwarp_psnr / fitwarp_lpips")
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--val-every", type=int, default=500, help="score whole validation frames every this many steps")
    ap.add_argument("--val-clips", type=int, default=40, help="validation clips scored whole (0: none)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    add_run_options(ap)
    ap.add_argument("--sample-group", type=int, default=16, help="clips of one size sampled together when caching")
    args = ap.parse_args()
    rng = seeded(args.threads, args.seed)
    budget = StepBudget(args.minutes)
    device = pick_device(args.device)
    run = Path(args.run)
    sets = [Path(d) for d in args.data.split(",")]
    crop = tuple(int(v) for v in args.crop.split(","))
    base, scale = load_denoiser(Path(args.denoiser))
    student, _ = load_denoiser(Path(args.student))
    samplers = {"baseline": (base.to(device), args.baseline_steps, args.baseline_clips),
                "student": (student.to(device), args.student_steps, args.student_clips)}
    cache_dir = Path(args.denoiser).parent
    # Each set's caches under its own name; the first set keeps the plain names (older runs resume as they
    # were), and the other sets' clips are named "<set>/<clip>".
    lat: dict = {"train": {}, "val": {}}
    samples: dict = {"train": {}, "val": {}}
    folders: dict = {"train": {}, "val": {}}
    for i, d in enumerate(sets):
        tag, prefix = ("", "") if i == 0 else (f"_{d.name}", f"{d.name}/")
        for split in ("val", "train"):
            part = cache_latents(d, split, Path(args.vae), cache_dir / f"latents_{split}{tag}.pt", device)["clips"]
            smp = cache_samples(part, samplers, scale, (args.samples or run) / f"samples_{split}{tag}.pt", args.seed,
                                device, args.sample_group)
            lat[split].update({prefix + k: v for k, v in part.items()})
            samples[split].update({prefix + k: v for k, v in smp.items()})
            folders[split].update({prefix + k: d / split / k for k in part})
    weights = args.lpips_weights or LPIPS_DIR / f"lpips_{args.lpips_net}_v0.1.safetensors"
    lpips = perceptual_loss(weights, device, args.lpips_net) if args.lpips > 0 else None
    print(f"perceptual term: {f'LPIPS-{args.lpips_net} × {args.lpips}' if lpips else 'none'}", flush=True)
    motion: dict = {"train": None, "val": None}
    if args.motion:
        for split in ("val", "train"):
            motion[split] = cache_motion(folders[split], (args.samples or run) / f"motion_{split}.pt", device)
    config = {"corr_radius": args.corr_radius, "motion": args.motion}
    dec = FlowDecoder(**config)
    if args.init:  # a decoder without the cost volume loads into one with it (that branch starts as a no-op)
        init = torch.load(args.init, map_location="cpu")
        if args.motion and not init.get("decoder_config", {}).get("motion"):
            missing = dec.load_without_motion(init["ema"])  # starts warping along the prior alone
        else:
            missing = dec.load_state_dict(init["ema"], strict=False).missing_keys
        if any(k.split(".")[0] not in FlowDecoder.CORR_MODULES for k in missing):
            raise SystemExit(f"{args.init}: not a FlowDecoder checkpoint (missing {missing})")
    dec.to(device)
    ema = copy.deepcopy(dec).eval()
    opt = torch.optim.AdamW(dec.parameters(), lr=args.lr, weight_decay=0.0)
    ckpt = Checkpoint(run, "decoder")
    step = ckpt.resume(rng, dec=dec, ema=ema, opt=opt)
    train = DecoderCrops(folders["train"], lat["train"], samples["train"], rng,
                         {"encoder": 0.2, "baseline": 0.45, "student": 0.35}, crop, motion["train"])
    train.preload([f for name in sorted(set().union(*train.names.values())) for f in clip_frames(folders["train"][name])],
                  workers=2 * args.threads)
    # Validation crops from the first set (the one the earlier runs validated on).
    first_val = {k: v for k, v in lat["val"].items() if "/" not in k}
    vz, vs, vm, ve, vf, vt = DecoderCrops(folders["val"], first_val, samples["val"], random.Random(1234),
                                          {"baseline": 1.0}, crop, motion["val"]).batch(24, crop, mid_only=True)
    vz, vs, vm, ve = vz.to(device), to_float(vs.to(device)), to_float(vm.to(device)), to_float(ve.to(device))
    vextra = (vf.to(device), vt.to(device)) if args.motion else ()
    blend = psnr((vs + ve) / 2, vm)
    alex = LPIPS_DIR / "lpips_alex_v0.1.safetensors"
    lpips_alex = lpips if lpips and args.lpips_net == "alex" else perceptual_loss(alex, device, "alex")
    full_names = sorted(n for n in first_val if "baseline" in samples["val"].get(n, {}))[:args.val_clips]
    full = FullValidation(full_names, folders["val"], lat["val"], samples["val"], motion["val"], lpips_alex, device) \
        if full_names else None
    warp = full.warp() if full and args.motion else (float("nan"), float("nan"))
    if full:
        print(f"whole-frame validation on {len(full_names)} clips; flow warp {warp[0]:.2f} dB / LPIPS-Alex {warp[1]:.4f}",
              flush=True)
    encoder = None
    if args.fitted > 0 or args.fit_val_clips > 0:
        vae = CelEncoder()
        vae.load_state_dict(torch.load(args.vae, map_location="cpu")["enc"])
        encoder = MeanEncoder(vae).to(device).eval().requires_grad_(False)
    fit_val, fit_warp = None, (float("nan"), float("nan"))
    if args.fit_val_clips > 0:
        names = sorted(first_val)[-args.fit_val_clips:]  # the last clips: the report scores the first ones
        fit_val = FitValidation(names, folders["val"], encoder, base, scale, args.baseline_steps, lpips_alex, device)
        if args.motion:
            fit_warp = fit_val.warp()
        print(f"report-protocol validation on {len(names)} clips; flow warp {fit_warp[0]:.2f} dB / LPIPS-Alex "
              f"{fit_warp[1]:.4f}", flush=True)
    zoom = tuple(float(v) for v in args.zoom.split(","))
    sched = Schedule()
    log = CsvLog(run / "decoder_log.csv", ["step", "loss", "l1", "edge", "lpips", "psnr", "val_psnr", "blend_psnr",
                                           "full_psnr", "full_lpips", "warp_psnr", "warp_lpips", "fit_psnr", "fit_lpips",
                                           "fitwarp_psnr", "fitwarp_lpips", "lr", "seconds"], step)
    # Sets beyond the first are named in the checkpoint's note (build_pack.py puts it in the manifest's
    # description and licence: drawn sets carry their artwork's licence).
    extra = [(d.name, sum(k.startswith(f"{d.name}/") for k in lat["train"])) for d in sets[1:]]
    note = ("decoder: its last stage also trained on " + " and ".join(f"{n} {name} clips" for name, n in extra)) \
        if extra else None
    t0 = time.time()
    total = args.steps  # until the budget says otherwise
    while step < total:
        total = budget.total(step, args.steps)
        dec.train()
        lr = lr_at(step, total, args.lr)
        set_lr(opt, lr)
        if args.fitted > 0 and rng.random() < args.fitted:
            # As the studio runs a smaller frame: fitted keyframes, a latent sampled from them (the student's,
            # or for some items the encoder's of the fitted middle frame), the output mapped back.
            s, mf, e, m, f, tau = train.fitted_batch(args.batch, crop, rng.uniform(*zoom))
            s, mf, e, m, tau = s.to(device), mf.to(device), e.to(device), m.to(device), tau.to(device)
            with torch.no_grad():
                if rng.random() < 0.2:
                    z = encoder(mf)
                else:
                    noise = torch.randn((s.shape[0], 4, crop[0], crop[1]),
                                        generator=torch.Generator().manual_seed(rng.randrange(2 ** 31))).to(device)
                    z = sched.sample(student, encoder(s) * scale, encoder(e) * scale, tau, args.student_steps,
                                     noise) / scale
            y = studio_resize(dec(z, s, e, *((f.to(device), tau) if args.motion else ())), tuple(m.shape[-2:]))
        else:
            z, s, m, e, f, tau = train.batch(args.batch, crop)
            z, s, m, e = z.to(device), to_float(s.to(device)), to_float(m.to(device)), to_float(e.to(device))
            y = dec(z, s, e, *((f.to(device), tau.to(device)) if args.motion else ()))
        l1 = (y - m).abs().mean()
        edge = (sobel(y) - sobel(m)).abs().mean()
        perc = lpips(y, m) if lpips else torch.zeros(())
        pixel = crop_psnr_loss(y, m)
        loss = l1 + 0.5 * edge + args.lpips * perc + args.psnr * pixel
        optimizer_step(opt, loss, dec.parameters())
        ema_update(ema, dec, args.ema if step > 100 else 0.0)
        step += 1
        val, whole, fitted = "", ("", ""), ("", "")
        if full and (step % args.val_every == 0 or step == total):
            whole = tuple(f"{v:.4f}" for v in full.score(ema))
            print(f"step {step}: whole frames {whole[0]} dB / LPIPS-Alex {whole[1]} (flow warp {warp[0]:.2f} / {warp[1]:.4f})",
                  flush=True)
        if fit_val and (step % args.val_every == 0 or step == total):
            fitted = tuple(f"{v:.4f}" for v in fit_val.score(ema))
            print(f"step {step}: report protocol {fitted[0]} dB / LPIPS-Alex {fitted[1]} (flow warp {fit_warp[0]:.2f} / "
                  f"{fit_warp[1]:.4f})", flush=True)
        if step % args.ckpt_every == 0 or step == total:
            with torch.no_grad():
                val = f"{psnr(ema(vz, vs, ve, *vextra), vm):.2f}"
            ckpt.save(step, rng, {"args": vars(args), "decoder_config": config, **({"note": note} if note else {})},
                      dec=dec, ema=ema, opt=opt)
            print(f"step {step}: loss {loss.item():.4f} val PSNR {val} dB (blend {blend:.2f}) ({time.time() - t0:.0f} s)",
                  flush=True)
        log.row([step, f"{loss.item():.5f}", f"{l1.item():.5f}", f"{edge.item():.5f}", f"{perc.item():.5f}",
                 f"{-10 * pixel.item():.3f}", val, f"{blend:.2f}", *whole,
                 *((f"{warp[0]:.4f}", f"{warp[1]:.4f}") if whole[0] else ("", "")), *fitted,
                 *((f"{fit_warp[0]:.4f}", f"{fit_warp[1]:.4f}") if fitted[0] else ("", "")), f"{lr:.6f}",
                 f"{time.time() - t0:.1f}"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

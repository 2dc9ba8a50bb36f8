"""How the decoder trainer scores whole validation frames (train_decoder.py): at the clips' own size
from the baseline's cached samples, and in the report's own protocol (the keyframes letterboxed into
the pack's frame, sampled and decoded there, mapped back), each next to the classical flow warp.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from models.training.classical_flow import halfway_warp, opencv_motion
from models.training.flow_net import MotionGraph
from models.training.decoder_data import quantize, studio_resize
from models.training.diffusion import Schedule
from models.training.trainlib import load_rgb, psnr


class Scores(NamedTuple):
    """Mean PSNR (dB) and mean LPIPS-Alex (nan without its weights) over whole frames."""

    psnr: float
    lpips: float


class FitItem(NamedTuple):
    """One clip in the report's protocol: the sampled latent, the fitted keyframes and their flows (the
    motion graph's), the clip's own middle frame, where the fit put the frame (`box`: y, x, h, w) and
    OpenCV's flows of the flow-warp anchor (`opencv_motion`)."""

    latent: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    motion: torch.Tensor
    target: torch.Tensor
    box: tuple[int, int, int, int]
    anchor: torch.Tensor


class FullItem(NamedTuple):
    """One clip at its own size: the baseline's cached latent, the keyframes, the middle frame, and the
    cached flows (None without motion)."""

    latent: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    target: torch.Tensor
    motion: torch.Tensor | None


def mean_scores(outputs, lpips_alex) -> Scores:
    """Scores of (output, true frame) pairs, outputs clamped to [-1, 1]."""
    ps, ls = [], []
    for y, m in outputs:
        y = y.clamp(-1, 1)
        ps.append(psnr(y, m))
        ls.append(lpips_alex(y, m).item() if lpips_alex else float("nan"))
    return Scores(sum(ps) / len(ps), sum(ls) / len(ls))


class FitValidation:
    """Whole validation frames in the report's protocol (scripts/evaluate-pack.ts): the keyframes
    letterboxed into the pack's frame (resized, quantised, centred on white), the pack's motion
    graph's flows computed there (`graph`, default Farnebäck's), the baseline's in-between at τ = ½
    sampled there (25 DDIM steps from seeded noise), decoded, and mapped back to the clip's own size to
    be scored against its true middle frame. `score` gives the decoder's Scores; `warp` those of the
    flow warp along OpenCV's Farnebäck flows at issue 20's settings, made and mapped back the same way
    (the report's flow-warp anchor)."""

    def __init__(
        self,
        names: list,
        folders: dict,
        encoder,
        baseline,
        scale: float,
        steps: int,
        lpips_alex,
        device,
        frame: tuple[int, int] = (320, 512),
        seed: int = 42,
        graph=None,
    ):
        self.items: list[FitItem] = []
        self.lpips, self.device = lpips_alex, device
        fh, fw = frame
        classical = MotionGraph().to(device)
        graph = classical if graph is None else graph.to(device).eval()
        sched = Schedule()
        with torch.no_grad():
            for n in names:
                s, e, m = (
                    load_rgb(folders[n] / f)[None].to(device) for f in ("frame1.png", "frame3.png", "frame2.png")
                )
                h, w = m.shape[-2:]
                k = min(fw / w, fh / h)
                sh, sw = min(fh, max(1, round(h * k))), min(fw, max(1, round(w * k)))
                oy, ox = (fh - sh) // 2, (fw - sw) // 2

                def fit(x):
                    out = torch.ones((1, 3, fh, fw), device=device)
                    out[:, :, oy : oy + sh, ox : ox + sw] = quantize(studio_resize(x, (sh, sw)))
                    return out

                fs, fe = fit(s), fit(e)
                motion = graph(fs, fe)
                anchor = opencv_motion(fs, fe)
                noise = torch.randn((1, 4, fh // 8, fw // 8), generator=torch.Generator().manual_seed(seed)).to(device)
                z = (
                    sched.sample(
                        baseline,
                        encoder(fs) * scale,
                        encoder(fe) * scale,
                        torch.tensor([0.5], device=device),
                        steps,
                        noise,
                    )
                    / scale
                )
                self.items.append(FitItem(z, fs, fe, motion, m, (oy, ox, sh, sw), anchor))

    def _restore(self, y: torch.Tensor, item: FitItem) -> torch.Tensor:
        """An output in the pack's frame mapped back to the clip's own size, as the report does."""
        oy, ox, sh, sw = item.box
        return quantize(studio_resize(y.clamp(-1, 1)[:, :, oy : oy + sh, ox : ox + sw], tuple(item.target.shape[-2:])))

    @torch.no_grad()
    def score(self, dec) -> Scores:
        tau = torch.tensor([0.5], device=self.device)
        outputs = (dec(i.latent, i.start, i.end, *((i.motion, tau) if dec.motion else ())) for i in self.items)
        return mean_scores(((self._restore(y, i), i.target) for y, i in zip(outputs, self.items)), self.lpips)

    @torch.no_grad()
    def warp(self) -> Scores:
        outputs = (halfway_warp(i.start, i.end, i.anchor[:, :2], i.anchor[:, 2:]) for i in self.items)
        return mean_scores(((self._restore(y, i), i.target) for y, i in zip(outputs, self.items)), self.lpips)


class FullValidation:
    """Whole validation frames at their own size (cropped to a multiple of 8): each clip's true middle
    frame against the decoder's output from the baseline's cached sample at τ = ½ — the report's
    protocol without the fit to the pack size. `score` gives the decoder's Scores; `warp` scores the
    flow warp (both keyframes along the cached flows of the decoder's motion graph, halfway, averaged)
    on the same frames: the classical anchor when that graph is Farnebäck's."""

    def __init__(
        self, names: list, folders: dict, latents: dict, samples: dict, motion: dict | None, lpips_alex, device
    ):
        self.items: list[FullItem] = []
        self.lpips, self.device = lpips_alex, device
        for n in names:
            c = latents[n]
            h, w = c["keys"].shape[-2] * 8, c["keys"].shape[-1] * 8
            s, e, m = (
                load_rgb(p)[:, :h, :w][None].to(device)
                for p in (folders[n] / "frame1.png", folders[n] / "frame3.png", folders[n] / "frame2.png")
            )
            f = motion[n][:, :h, :w].float()[None].to(device) if motion else None
            self.items.append(FullItem(samples[n]["baseline"][:1].float().to(device), s, e, m, f))

    @torch.no_grad()
    def score(self, dec) -> Scores:
        tau = torch.tensor([0.5], device=self.device)
        outputs = (dec(i.latent, i.start, i.end, *((i.motion, tau) if dec.motion else ())) for i in self.items)
        return mean_scores(zip(outputs, (i.target for i in self.items)), self.lpips)

    @torch.no_grad()
    def warp(self) -> Scores:
        outputs = (halfway_warp(i.start, i.end, i.motion[:, :2], i.motion[:, 2:]) for i in self.items)
        return mean_scores(zip(outputs, (i.target for i in self.items)), self.lpips)

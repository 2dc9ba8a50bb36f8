"""A drawn set of a pack's report split by what its clips show: where the pack wins or loses against
the flow warp, and where its denoiser's sample beats the keyframes' average latent (the latent
ablation), stratum by stratum, each a paired difference with its 95% confidence interval as the
report computes them (src/core/pairedDifference.ts).

It reads the report's own per-triplet scores (evaluation.json, `drawn[].perTriplet`, which `npm run
evaluate` writes), so nothing is run again. The strata come from the
generator of the TV-like set (data/tvlike.py, which rebuilds each clip's scene from the seed in its
name):

- **timing**: `even` where every motion in the clip (each character's path, and the camera when it
  moves) is linear or ease-in-out, so that the middle frame is at half of each path; `uneven` where one
  is an ease in or out (x², 1 − (1 − x)²), whose middle frame is at a quarter or three quarters of the
  path — which no method can tell from the keyframes alone;
- **camera**: still, pan or zoom;
- **travel**: the largest character's path from start to end, under or over 50 px;
- **prop**: whether a foreground prop slides past (occlusion).

    /usr/bin/python3 -m models.training.report_strata [--report models/cel/evaluation.json]
        [--set data/tvlike/val] [--config baseline]

prints a Markdown table per stratification.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np

from models.training.data import tvlike

Z975 = 1.959963984540054
ANCHORS = {"flow": "flow warp", "keyavg": "average latent", "truelatent": "true latent"}


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t, as src/core/pairedDifference.ts computes it (tabulated for
    df ≤ 4, else the Cornish–Fisher expansion)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be ≥ 1, got {df}")
    table = [12.706204736174707, 4.302652729749464, 3.182446305284263, 2.776445105197799]
    if df <= len(table):
        return table[df - 1]
    z = Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def paired_difference(a: list, b: list) -> tuple[float, float, float, int]:
    """Mean of a − b over the items where both are numbers, with its 95% interval, and n."""
    d = [x - y for x, y in zip(a, b) if x is not None and y is not None]
    n = len(d)
    if n == 0:
        return math.nan, -math.inf, math.inf, 0
    m = sum(d) / n
    if n < 2:
        return m, -math.inf, math.inf, n
    half = t_quantile_975(n - 1) * math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1) / n)
    return m, m - half, m + half, n


def tvlike_strata(name: str) -> dict[str, str]:
    """A TV-like clip's strata, from its scene (the seed is in the clip's name, `tv_<seed>`)."""
    scene = tvlike.make_scene(int(name.removeprefix("tv_")))
    camera_moves = scene.cam1 != scene.cam0
    eases = [c.ease for c in scene.characters] + ([scene.cam_ease] if camera_moves else [])
    travel = max(float(np.linalg.norm(c.end - c.start)) for c in scene.characters)
    if not camera_moves:
        camera = "still"
    else:
        camera = "zoom" if scene.cam1[2] != 1.0 else "pan"
    return {
        # Even: every ease passes half time at half its path (linear and smoothstep do; x² and 1 − (1 − x)² not).
        "timing": "even" if all(abs(tvlike._ease(0.5, e) - 0.5) < 1e-9 for e in eases) else "uneven",
        "camera": camera,
        "travel": "under 50 px" if travel < 50 else "50 px or more",
        "prop": "a prop passes" if scene.prop is not None else "no prop",
    }


STRATA: dict[str, Callable[[str], dict[str, str]]] = {"tvlike": tvlike_strata}


def strata_of(set_dir: str) -> Callable[[str], dict[str, str]]:
    for key, fn in STRATA.items():
        if key in Path(set_dir).parts:
            return fn
    raise SystemExit(f"no strata known for {set_dir} (known: {', '.join(STRATA)})")


def fmt_diff(p: tuple[float, float, float, int], digits: int) -> str:
    """`+0.12 (−0.03 to +0.27)`, with the report's minus sign."""
    m, lo, hi, _ = p
    text = f"{m:+.{digits}f}" if not math.isfinite(lo) else f"{m:+.{digits}f} ({lo:+.{digits}f} to {hi:+.{digits}f})"
    return text.replace("-", "−")


def strata_tables(drawn: dict, config: str, strata: Callable[[str], dict[str, str]]) -> list[str]:
    """Markdown lines: one table per stratification of the drawn set `drawn` (evaluation.json's
    `drawn[i]`, with `perTriplet`), `config` against each anchor the set has, triplet by triplet."""
    per = drawn.get("perTriplet")
    if not per:
        raise SystemExit(f"{drawn['dir']}: no per-triplet scores (a report written before they were kept)")
    names, rows = per["triplets"], per["rows"]
    if config not in rows:
        raise SystemExit(f"{drawn['dir']}: no row {config!r} (rows: {', '.join(rows)})")
    tags = [strata(n) for n in names]
    anchors = [a for a in ANCHORS if a in rows]
    lines = []
    for kind in tags[0]:
        lines += [
            "",
            f"{drawn['dir']} by {kind}: {config} (PSNR dB / LPIPS-Alex), and {config} minus each anchor "
            "(mean, 95% CI), triplet by triplet",
            "",
            "| " + " | ".join([kind, "n", config] + [f"− {ANCHORS[a]}" for a in anchors]) + " |",
            "|---" * (3 + len(anchors)) + "|",
        ]
        for group in sorted({t[kind] for t in tags}):
            idx = [i for i, t in enumerate(tags) if t[kind] == group]

            def pick(row: str, metric: str) -> list:
                return [rows[row][metric][i] for i in idx]

            psnr = [x for x in pick(config, "psnr") if x is not None]
            lp = [x for x in pick(config, "lpipsAlex") if x is not None]
            cells = [group, str(len(idx)), f"{np.mean(psnr):.2f} / {np.mean(lp):.4f}" if lp else f"{np.mean(psnr):.2f}"]
            for a in anchors:
                d_psnr = paired_difference(pick(config, "psnr"), pick(a, "psnr"))
                d_lp = paired_difference(pick(config, "lpipsAlex"), pick(a, "lpipsAlex"))
                cells.append(fmt_diff(d_psnr, 2) + (f" / {fmt_diff(d_lp, 4)}" if d_lp[3] else ""))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, default=Path("models/cel/evaluation.json"))
    ap.add_argument("--set", default="data/tvlike/val", help="a drawn set of the report (its `dir`)")
    ap.add_argument("--config", default="baseline", help="the row compared with the anchors")
    args = ap.parse_args(argv)
    report = json.loads(args.report.read_text())
    found = [d for d in report.get("drawn", []) if d["dir"] == args.set]
    if not found:
        sets = ", ".join(d["dir"] for d in report.get("drawn", [])) or "none"
        raise SystemExit(f"{args.report} has no drawn set {args.set} (it has: {sets})")
    print("\n".join(strata_tables(found[0], args.config, strata_of(args.set))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""report_strata.py: a report's drawn TV-like set split by what its clips show."""
from __future__ import annotations

import json
import math

import pytest

from models.training import report_strata
from models.training.data import tvlike


def test_paired_difference_matches_the_reports_interval():
    # Differences 1, 2, 3: mean 2, sd 1, t(2) = 4.3027 → half-width 4.3027 / √3; missing items drop out.
    m, lo, hi, n = report_strata.paired_difference([2, 4, 6, None, 1], [1, 2, 3, 5, None])
    assert (m, n) == (2, 3)
    assert hi - m == pytest.approx(4.302652729749464 / math.sqrt(3))
    assert lo == pytest.approx(2 * m - hi)
    # The Cornish–Fisher quantile for larger samples (t(59) = 2.000995).
    assert report_strata.t_quantile_975(59) == pytest.approx(2.000995, abs=3e-4)


def test_timing_follows_the_scene_eases():
    names = [f"tv_{tvlike.VAL_SEED_OFFSET + i:08d}" for i in range(6)]
    for name in names:
        scene = tvlike.make_scene(int(name[3:]))
        tags = report_strata.tvlike_strata(name)
        moving_camera = scene.cam0 != scene.cam1
        eases = [c.ease for c in scene.characters] + ([scene.cam_ease] if moving_camera else [])
        assert tags["timing"] == ("even" if max(eases) <= 1 else "uneven")
        assert tags["camera"] == ("still" if not moving_camera else "zoom" if scene.cam1[2] != 1 else "pan")
        assert tags["prop"] == ("a prop passes" if scene.prop else "no prop")
    # Seed 20000000 has one character on a linear path and a still camera; 20000002 two, eased in and out.
    assert report_strata.tvlike_strata(names[0])["timing"] == "even"
    assert report_strata.tvlike_strata(names[2])["timing"] == "uneven"


def test_tables_pair_the_config_with_each_anchor_within_each_stratum(tmp_path, capsys):
    names = [f"tv_{tvlike.VAL_SEED_OFFSET + i:08d}" for i in range(6)]
    timing = [report_strata.tvlike_strata(n)["timing"] for n in names]
    even = [i for i, t in enumerate(timing) if t == "even"]
    assert 2 <= len(even) <= 4  # both strata present
    base = [20.0 + i for i in range(6)]
    # The sample beats the average latent by 0.5 dB on even clips and loses 0.1 dB on uneven ones.
    keyavg = [b - (0.5 if i in even else -0.1) for i, b in enumerate(base)]
    rows = {
        "baseline": {"psnr": base, "ssim": [0.9] * 6, "lpipsAlex": [0.2] * 6},
        "keyavg": {"psnr": keyavg, "ssim": [0.9] * 6, "lpipsAlex": [0.21] * 6},
        "flow": {"psnr": [b - 1 for b in base], "ssim": [0.9] * 6, "lpipsAlex": [None] * 6},
    }
    report = {
        "drawn": [
            {"dir": "data/tvlike/val", "triplets": 6, "rows": [], "perTriplet": {"triplets": names, "rows": rows}}
        ]
    }
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(report))
    assert report_strata.main(["--report", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("data/tvlike/val by timing")))
    assert lines[start + 2] == "| timing | n | baseline | − flow warp | − average latent |"
    even_row = next(x for x in lines[start:] if x.startswith("| even |"))
    uneven_row = next(x for x in lines[start:] if x.startswith("| uneven |"))
    assert even_row.startswith(f"| even | {len(even)} | ")
    # Constant differences: the interval is the mean itself; the flow warp has no LPIPS here.
    assert "| +1.00 (+1.00 to +1.00) | +0.50 (+0.50 to +0.50) / −0.0100 (−0.0100 to −0.0100) |" in even_row
    assert "| +1.00 (+1.00 to +1.00) | −0.10 (−0.10 to −0.10) / −0.0100 (−0.0100 to −0.0100) |" in uneven_row
    for kind in ("camera", "travel", "prop"):
        assert any(x.startswith(f"data/tvlike/val by {kind}") for x in lines)


def test_a_report_without_per_triplet_scores_says_so(tmp_path):
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps({"drawn": [{"dir": "data/tvlike/val", "triplets": 3, "rows": []}]}))
    with pytest.raises(SystemExit, match="no per-triplet scores"):
        report_strata.main(["--report", str(path)])
    with pytest.raises(SystemExit, match="has no drawn set data/sprites/val"):
        report_strata.main(["--report", str(path), "--set", "data/sprites/val"])

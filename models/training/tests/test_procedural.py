"""The procedural triplet builder: ATD-12K layout, exact middle frames, deterministic, split by clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from models.training.data import procedural


def _px(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_layout_and_sizes(tmp_path):
    procedural.build(tmp_path, n_train=3, n_val=2)
    train = sorted((tmp_path / "train").iterdir())
    val = sorted((tmp_path / "val").iterdir())
    assert len(train) == 3 and len(val) == 2
    assert not {p.name for p in train} & {p.name for p in val}, "a clip is in both splits"
    for clip in train + val:
        frames = [clip / f"frame{i}.png" for i in (1, 2, 3)]
        sizes = {Image.open(f).size for f in frames}
        assert len(sizes) == 1 and sizes.pop() in procedural.SIZES


def test_middle_frame_is_exactly_t_half_and_motion_is_real():
    scene = procedural.make_scene(1234, (256, 160))
    f1, f2, f3 = (np.asarray(procedural.render(scene, t), dtype=np.int16) for t in (0.0, 0.5, 1.0))
    again = np.asarray(procedural.render(procedural.make_scene(1234, (256, 160)), 0.5), dtype=np.int16)
    assert np.array_equal(f2, again), "rendering is deterministic"
    # Something moves, and the middle frame is not simply the blend of its neighbours.
    assert np.abs(f1 - f3).mean() > 0.5
    blend = (f1 + f3) / 2
    assert np.abs(f2 - blend).mean() > 0.1


def test_cel_look_has_flat_fills_and_dark_outlines():
    seed = next(s for s in range(100) if procedural.make_scene(s, (320, 192)).background == "flat")
    img = np.asarray(procedural.render(procedural.make_scene(seed, (320, 192)), 0.0))
    # Flat fills: few distinct colours dominate.
    colours, counts = np.unique(img.reshape(-1, 3), axis=0, return_counts=True)
    assert counts.max() > 0.05 * img.shape[0] * img.shape[1]
    # Outlines: some pixels are much darker than the fills.
    assert (img.max(axis=2) < 80).sum() > 50

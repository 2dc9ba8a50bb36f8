"""The triplet builders for drawn animation: Debian game sprites (sprites.py) and Synfig documents
(synfig_clips.py). Real tools: apt-get download / dpkg-deb for a small game-data package, and the
synfig renderer on a small document written here."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.training.data import sprites
from models.training.data import synfig_clips
from models.training.data import triplets


def _clips(root: Path) -> dict[str, list[Path]]:
    return {split: sorted((root / split).iterdir()) if (root / split).exists() else [] for split in ("train", "val")}


def _check_layout(root: Path) -> None:
    for clips in _clips(root).values():
        for clip in clips:
            sizes = {Image.open(clip / f"frame{i}.png").size for i in (1, 2, 3)}
            assert len(sizes) == 1, f"{clip}: frames of different sizes"
            w, h = sizes.pop()
            assert w % 32 == 0 and h % 32 == 0 and w >= 256 and h >= 160, (clip, w, h)


def _sprite(colour, arm: int) -> Image.Image:
    """A 24×32 figure whose arm is at height `arm` (the drawn motion)."""
    img = Image.new("RGBA", (24, 32), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rectangle((8, 4, 15, 31), fill=colour, outline=(20, 20, 20, 255))
    d.line((15, arm, 23, arm - 3), fill=(20, 20, 20, 255), width=2)
    return img


def _fake_game(root: Path) -> None:
    """Numbered frames (Wesnoth's naming) for 12 units and one Pingus-style sheet."""
    for u in range(12):
        folder = root / "units" / f"tribe{u % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, 6):
            _sprite((40 + 15 * u, 120, 200, 255), 8 + 4 * n).save(folder / f"unit{u}-attack-{n}.png")
        _sprite((200, 60, 60, 255), 10).save(folder / f"unit{u}-portrait.png")  # not a sequence
    sheet = Image.new("RGBA", (24 * 4, 32), (0, 0, 0, 0))
    for c in range(4):
        sheet.alpha_composite(_sprite((90, 200, 90, 255), 6 + 6 * c), (24 * c, 0))
    (root / "pingus").mkdir()
    sheet.save(root / "pingus" / "walker.png")
    (root / "pingus" / "walker.sprite").write_text(
        '(pingus-sprite\n  (image "walker.png")\n  (speed 80)\n  (array 4 1)\n  (size 24 32))\n'
    )


def test_sequences_are_found_in_numbered_files_and_sprite_sheets(tmp_path):
    _fake_game(tmp_path)
    seqs = sprites.sequences(tmp_path)
    numbered = [s for s in seqs if "attack" in s.name]
    sheets = [s for s in seqs if s.name.endswith(".sprite")]
    assert len(numbered) == 12 and all(len(s.frames) == 5 for s in numbered)
    assert len(sheets) == 1 and len(sheets[0].frames) == 4 and sheets[0].frames[0].size == (24, 32)
    assert not any("portrait" in s.name for s in seqs), "a single image is not a sequence"
    assert sprites.parse_sprite('(pingus-sprite (image "../a b.png") (array 8 1) (position 0 96))') == {
        "image": "../a b.png",
        "array": [8, 1],
        "position": [0, 96],
    }


def test_sprite_clips_split_by_unit_and_keep_the_drawn_middle(tmp_path):
    _fake_game(tmp_path / "game")
    counts = sprites.build([tmp_path / "game"], tmp_path / "out", max_clips=100, val_fraction=0.3, seed=1)
    clips = _clips(tmp_path / "out")
    assert counts["train"] == len(clips["train"]) > 0 and counts["val"] == len(clips["val"]) > 0
    _check_layout(tmp_path / "out")
    unit = lambda p: p.name.split("_attack")[0]  # noqa: E731 (clip names carry the unit's file stem)
    assert not {unit(p) for p in clips["train"]} & {unit(p) for p in clips["val"]}, "a unit is in both splits"
    again = sprites.build([tmp_path / "game"], tmp_path / "again", max_clips=100, val_fraction=0.3, seed=1)
    assert again == counts
    first = clips["train"][0]
    assert (first / "frame2.png").read_bytes() == (
        tmp_path / "again" / "train" / first.name / "frame2.png"
    ).read_bytes()


def test_compose_pans_the_middle_frame_exactly_half_way():
    still = [_sprite((200, 120, 40, 255), 12)] * 3  # no drawn motion: only the camera moves
    for seed in range(50):
        rng = np.random.default_rng(seed)
        state = rng.bit_generator.state
        out = sprites.compose(still, rng)
        rng.bit_generator.state = state
        if out is None:
            continue
        a, m, b = (np.asarray(f.convert("RGB"), dtype=np.int16) for f in out)
        if np.array_equal(a, b):
            continue  # this seed did not pan
        # Find the pan (dx, dy) that maps frame1 onto frame3, then check the middle frame is at half.
        best = min(
            (
                (
                    np.abs(
                        a[max(dy, 0) : a.shape[0] + min(dy, 0), max(dx, 0) : a.shape[1] + min(dx, 0)]
                        - b[max(-dy, 0) : b.shape[0] + min(-dy, 0), max(-dx, 0) : b.shape[1] + min(-dx, 0)]
                    ).mean(),
                    dx,
                    dy,
                )
                for dx in range(-24, 25, 2)
                for dy in range(-12, 13, 2)
            )
        )
        err, dx, dy = best
        assert err < 1.0, "frame 3 is frame 1 moved by the pan"
        hx, hy = dx // 2, dy // 2
        half = np.abs(
            a[max(hy, 0) : a.shape[0] + min(hy, 0), max(hx, 0) : a.shape[1] + min(hx, 0)]
            - m[max(-hy, 0) : m.shape[0] + min(-hy, 0), max(-hx, 0) : m.shape[1] + min(-hx, 0)]
        ).mean()
        assert half < 1.0, f"the middle frame is not panned by half of ({dx}, {dy})"
        return
    pytest.fail("no seed in 0…49 panned the camera")


@pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None, reason="needs Debian's apt-get and dpkg-deb"
)
def test_a_debian_game_package_is_fetched_and_made_into_clips(tmp_path):
    root = sprites.fetch("pingus-data", tmp_path / "debs")  # 12 MB
    assert (root / ".unpacked").exists() and sprites.fetch("pingus-data", tmp_path / "debs") == root
    seqs = sprites.sequences(root)
    assert len(seqs) > 100, f"only {len(seqs)} sprite sequences in pingus-data"
    counts = sprites.build([root], tmp_path / "out", max_clips=40, val_fraction=0.2, seed=0)
    assert counts["train"] + counts["val"] == 40
    _check_layout(tmp_path / "out")
    for clip in _clips(tmp_path / "out")["train"][:10]:
        f1, f3 = (np.asarray(Image.open(clip / f"frame{i}.png"), dtype=np.int16) for i in (1, 3))
        assert np.abs(f1 - f3).mean() > 0.2, f"{clip.name}: nothing moves"


BALL = """<?xml version="1.0" encoding="UTF-8"?>
<canvas version="1.0" width="320" height="200" xres="2834.645669" yres="2834.645669" view-box="-4 2.5 4 -2.5"
        antialias="1" fps="24" begin-time="0f" end-time="2s" bgcolor="1 1 1 1">
  <layer type="rectangle" active="true" version="0.2" desc="paper">
    <param name="color"><color><r>1</r><g>1</g><b>1</b><a>1</a></color></param>
    <param name="point1"><vector><x>-10</x><y>-10</y></vector></param>
    <param name="point2"><vector><x>10</x><y>10</y></vector></param>
  </layer>
  <layer type="circle" active="true" version="0.2" desc="ball">
    <param name="color"><color><r>0.9</r><g>0.1</g><b>0.1</b><a>1</a></color></param>
    <param name="radius"><real value="0.5"/></param>
    <param name="origin">
      <animated type="vector">
        <waypoint time="0s" before="linear" after="linear"><vector><x>-3</x><y>-1</y></vector></waypoint>
        <waypoint time="2s" before="linear" after="linear"><vector><x>3</x><y>1</y></vector></waypoint>
      </animated>
    </param>
  </layer>
</canvas>
"""


def _red_centroid(path: Path) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    mask = (img[..., 0] > 180) & (img[..., 1] < 150) & (img[..., 2] < 150)
    assert mask.sum() > 50, f"{path}: no ball"
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.skipif(shutil.which("synfig") is None, reason="needs Debian's synfig (apt-get install synfig)")
def test_synfig_renders_exact_middle_frames_split_by_time_block(tmp_path):
    sif = tmp_path / "ball.sif"
    sif.write_text(BALL)
    info = synfig_clips.canvas_info(sif)
    assert info["frame_rate"] == 24 and info["time_end"] == 2 and (info["w"], info["h"]) == (320, 200)
    counts = synfig_clips.build([sif], tmp_path / "out", [256, 320], val_fraction=0.5, seed=0)
    clips = _clips(tmp_path / "out")
    assert counts["rendered"] and counts["train"] == len(clips["train"]) and counts["val"] == len(clips["val"])
    assert counts["train"] > 0 and counts["val"] > 0
    _check_layout(tmp_path / "out")
    assert {Image.open(c / "frame1.png").size for c in clips["train"] + clips["val"]} == {(256, 160), (320, 192)}
    for clip in clips["train"] + clips["val"]:
        a, m, b = (_red_centroid(clip / f"frame{i}.png") for i in (1, 2, 3))
        assert np.linalg.norm(b - a) > 2, "the ball moves between the keyframes"
        assert np.linalg.norm(m - (a + b) / 2) < 0.5, f"{clip.name}: the middle frame is not at the middle time"
    # Validation and training never share a one-second block of one rendering.
    block = lambda c: (c.name.rsplit("_", 2)[0], int(c.name.rsplit("_", 2)[1]) // 24)  # noqa: E731
    assert not {block(c) for c in clips["train"]} & {block(c) for c in clips["val"]}


def test_prerendered_sequences_are_used_without_synfig(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for n in range(10):
        img = Image.new("RGBA", (256, 160), (0, 0, 0, 0))
        ImageDraw.Draw(img).ellipse((20 + 12 * n, 60, 60 + 12 * n, 100), fill=(230, 30, 30, 255))
        img.save(src / f"ball.{100 + n:04d}.png")
    counts = synfig_clips.build([src], tmp_path / "out", [256], val_fraction=0.0, seed=0, use_synfig=False)
    assert not counts["rendered"] and counts["train"] >= 3 and counts["val"] == 0
    _check_layout(tmp_path / "out")
    clip = _clips(tmp_path / "out")["train"][0]
    a, m, b = (_red_centroid(clip / f"frame{i}.png") for i in (1, 2, 3))
    assert abs(m[0] - (a[0] + b[0]) / 2) < 0.5


def test_split_is_stable_and_near_the_fraction():
    groups = [f"unit{i}" for i in range(2000)]
    val = [g for g in groups if triplets.split_of(g, 0.1) == "val"]
    assert 150 < len(val) < 250
    assert val == [g for g in groups if triplets.split_of(g, 0.1) == "val"]


def test_synfig_builder_reports_a_missing_document(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "models.training.data.synfig_clips",
            "--sif",
            str(tmp_path / "nope.sif"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and "not found" in res.stderr

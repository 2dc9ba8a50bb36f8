"""Writing a generated clip so that a killed build never leaves half a clip where the loaders look.

A clip's files go into `<root>/.partial/<split>/<name>` first and that folder becomes
`<root>/<split>/<name>` only once every file is written; a clip already there with every file is kept,
so rerunning an interrupted build only writes the clips it had not finished (the generators are seeded:
a clip's content depends on its seed alone).
"""
from __future__ import annotations

import shutil
from pathlib import Path


def is_complete(clip: Path, names: list[str]) -> bool:
    """Whether `clip` holds every one of `names` (an earlier run wrote it whole)."""
    return clip.is_dir() and all((clip / n).exists() for n in names)


def partial(root: Path, split: str, name: str) -> Path:
    """An empty folder to write the clip's files into, outside the split the loaders read."""
    tmp = root / ".partial" / split / name
    if tmp.exists():  # left by a killed run
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def publish(tmp: Path, clip: Path) -> Path:
    """Moves the finished folder `tmp` to `clip` (replacing an incomplete one) in one rename."""
    clip.parent.mkdir(parents=True, exist_ok=True)
    if clip.exists():
        shutil.rmtree(clip)
    tmp.replace(clip)
    return clip

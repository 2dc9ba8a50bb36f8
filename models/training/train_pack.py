"""Run the bundled pack's training recipe (recipe.py), stage by stage, from the repository root.

Every stage is seeded and resumes from its checkpoint, so rerunning after an interruption carries on
where it stopped (a stage that already reached its step count only reloads and exits). A stage's step
count comes from its environment variable (VAE_STEPS, DENOISER_STEPS, …; see `--list`), else the
recipe's default. Export and evaluation follow: build_pack.py, then `npm run evaluate`.

    /usr/bin/python3 -m models.training.train_pack            (about 6¼ hours on 2 cores)
    /usr/bin/python3 -m models.training.train_pack --list     (the stages, their run folders and steps)
    /usr/bin/python3 -m models.training.train_pack --from decoder-motion --to decoder-fitted
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from models.training.recipe import DATA_SETS, STAGES, Stage

REPO = Path(__file__).resolve().parents[2]


def stage_steps(stage: Stage) -> int:
    return int(os.environ.get(stage.steps_env, stage.steps))


def stage_command(stage: Stage) -> list[str]:
    trainer = f"models.training.{stage.trainer}"
    return [sys.executable, "-m", trainer, *stage.args, "--run", stage.run, "--steps", str(stage_steps(stage))]


def build_data(name: str) -> None:
    data = DATA_SETS[name]
    if not (REPO / data.folder / "val").is_dir():
        subprocess.run([sys.executable, "-m", data.builder, *data.args], cwd=REPO, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [s.name for s in STAGES]
    ap.add_argument("--list", action="store_true", help="print the stages and exit")
    ap.add_argument("--from", dest="first", choices=names, default=names[0], help="the first stage to run")
    ap.add_argument("--to", dest="last", choices=names, default=names[-1], help="the last stage to run")
    args = ap.parse_args()
    chosen = STAGES[names.index(args.first) : names.index(args.last) + 1]
    if args.list:
        for s in STAGES:
            steps = f"{s.steps_env}={stage_steps(s)}"
            print(f"{s.name:26s} {s.run:14s} {steps:26s} {s.about}")
        return 0
    for stage in chosen:
        for name in stage.data:
            build_data(name)
        print(f"train_pack: {stage.name} ({stage.run})", flush=True)
        subprocess.run(stage_command(stage), cwd=REPO, check=True)
    print("train_pack: all stages done" if chosen == STAGES else f"train_pack: {args.first} … {args.last} done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

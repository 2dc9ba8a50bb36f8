"""Bring what a GPU session trained (`gpu_session.sh train` → its $OUT folder) into the recipe's run
folders, so that the CPU stages that come after it run on it: the student and the baseline tuned through
the decoder again, the LoRA trained again on the tuned baseline, and the decoder's still stage.

    /usr/bin/python3 -m models.training.gpu_return --out out/gpu [--runs runs]
    /usr/bin/python3 -m models.training.train_pack --from student-decoder
    /usr/bin/python3 -m models.training.build_pack

The session's checkpoints go where those stages read them:

- `denoiser.pt` (the pack's baseline fine-tuned with the diffusion loss) → runs/denoiser, the baseline
  that `baseline-decoder` tunes; its step count adds the session's steps to the carried baseline's;
- `student.pt` (a student distilled afresh from that denoiser) → runs/student, which `student-decoder`
  tunes;
- `decoder.pt` (the pack's decoder fine-tuned on the carried samplers' latents) → runs/decoder12, the
  decoder both tuning stages decode with and `decoder-still` starts from.

The folders these replace and the folders of the stages that must run again (student2, denoiser2, lora2,
decoder14 and decoder7, the slot for a decoder made elsewhere) move, untouched, into
runs/before-gpu-<time>/; nothing is deleted. Each checkpoint is checked before anything moves: it loads
into its model, its weights are finite, and its latent scale is the carried models'. Its note (which
build_pack.py puts in the manifest's description) says what the session did, read from its log.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import torch

from models.training.cel_model import CelConfig, CelDenoiser, FlowDecoder
from models.training.flow_net import FlowNet
from models.training.recipe import (
    DECODER_RUNS,
    DENOISER,
    STUDENT,
    TUNED_BASELINE,
    TUNED_LORA,
    TUNED_STUDENT,
    TUNE_DECODER,
    baseline_checkpoint,
    under,
)

# The decoder stage the session's decoder stands in for: the tuning stages decode with it and the still
# stage starts from it.
DECODER_SLOT = Path(TUNE_DECODER).parent.name
# Run folders whose stages must run again on what the session made (they would otherwise be found done).
RERUN = (Path(TUNED_STUDENT).parent.name, Path(TUNED_BASELINE).parent.name, Path(TUNED_LORA).parent.name)
SET_NAMES = {"procedural": "procedural", "tvlike": "TV-like", "synfig": "Synfig"}


def read_session(log: Path) -> dict:
    """What gpu_session.sh's log says about the session: clips per training set, batch sizes, device."""
    text = log.read_text(errors="replace") if log.exists() else ""
    sets = {m.group(1): int(m.group(2)) for m in re.finditer(r"\] (procedural|tvlike|synfig): (\d+) train", text)}
    batches = {
        m.group(1): int(m.group(2)) for m in re.finditer(r"(denoiser|student|decoder) (\d+)", _line(text, "batches:"))
    }
    line = _line(text, "] device ")
    device = re.search(r"torch \S+ (.+)$", line)
    return {
        "sets": sets,
        "batches": batches,
        "device": device.group(1).strip() if device else None,
        "cpu": bool(re.search(r"\] device cpu;", line)),  # a trial of the script on a CPU says so
    }


def _line(text: str, marker: str) -> str:
    return next((line for line in text.splitlines() if marker in line), "")


def _sets_text(sets: dict[str, int], names: tuple[str, ...], before: str) -> str:
    """'<before> 4000 procedural, 107 Synfig and 600 TV-like clips', or '' when the log named none."""
    parts = [f"{sets[n]} {SET_NAMES[n]}" for n in names if sets.get(n)]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f" {before} {listed} clips"


def _where(session: dict, role: str) -> str:
    """'a GPU (gpu_session.sh, <device>, batch N)' ('a CPU (…)' for a session run on one)."""
    details = ["gpu_session.sh"]
    if session["device"] and session["device"] != "no CUDA":
        details.append(session["device"])
    if session["batches"].get(role):
        details.append(f"batch {session['batches'][role]}")
    return f"{'a CPU' if session['cpu'] else 'a GPU'} ({', '.join(details)})"


def check_denoiser(name: str, state: dict, scale: float) -> None:
    model = CelDenoiser(CelConfig.from_dict(state["config"]))
    model.load_state_dict(state["ema"])
    _finite(name, state["ema"])
    if abs(float(state["scale_factor"]) - scale) > 1e-6:
        raise SystemExit(
            f"{name}: its latent scale {state['scale_factor']} is not the carried models' {scale}: "
            "the session ran on another VAE"
        )


def check_decoder(state: dict) -> None:
    dec = FlowDecoder(**state.get("decoder_config", {}))
    dec.load_state_dict(state["ema"])
    _finite("decoder.pt", state["ema"])
    if state.get("decoder_config", {}).get("motion"):
        if "motion_net" not in state:
            raise SystemExit("decoder.pt: a motion-prior decoder without the motion graph it was trained with")
        FlowNet.from_state(state["motion_net"])
        _finite("decoder.pt (motion graph)", state["motion_net"])


def _finite(name: str, weights: dict) -> None:
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise SystemExit(f"{name}: weights that are not finite ({', '.join(bad[:3])}): not imported")


def bring_back(out: Path, runs: Path) -> list[str]:
    """Checks the session's checkpoints in `out` and puts them into `runs`; returns what it did."""
    found = {n: out / f"{n}.pt" for n in ("denoiser", "student", "decoder") if (out / f"{n}.pt").exists()}
    if not found:
        raise SystemExit(f"no denoiser.pt, student.pt or decoder.pt in {out}: is it a gpu_session.sh output folder?")
    session = read_session(out / "session.log")
    carried_path = baseline_checkpoint(runs)
    if not carried_path.exists():
        raise SystemExit(f"no baseline under {runs} (the models the session started from): run from_pack.py first")
    carried = torch.load(carried_path, map_location="cpu")
    trained = under(runs, DENOISER)  # the baseline an earlier return wrote (the tuned one may be on top)
    for path, state in ((carried_path, carried), (trained, torch.load(trained) if trained.exists() else {})):
        if state.get("from_gpu_session") == str(out):
            raise SystemExit(f"{path} was already brought back from {out}: nothing to do (its stages may run)")
    scale = float(carried["scale_factor"])
    states = {n: torch.load(p, map_location="cpu") for n, p in found.items()}
    for n in ("denoiser", "student"):
        if n in states:
            check_denoiser(f"{n}.pt", states[n], scale)
    if "decoder" in states:
        check_decoder(states["decoder"])

    aside = runs / time.strftime("before-gpu-%Y%m%d-%H%M%S")
    moved_decoders: list[dict] = []
    done = []

    def move(folder: str) -> None:
        src = runs / folder
        if src.exists():
            aside.mkdir(parents=True, exist_ok=True)
            src.rename(aside / folder)
            done.append(f"moved {src} to {aside / folder}")

    for folder in RERUN:
        move(folder)
    if "denoiser" in states:
        move(Path(DENOISER).parent.name)
    if "student" in states:
        move(Path(STUDENT).parent.name)
    if "decoder" in states:
        # The decoder stages after the slot (and the slot itself) are replaced: their steps are the session
        # decoder's history, so its step count keeps them.
        for folder in DECODER_RUNS[DECODER_RUNS.index(DECODER_SLOT) :]:
            if (runs / folder / "decoder_last.pt").exists():
                moved_decoders.append(torch.load(runs / folder / "decoder_last.pt", map_location="cpu"))
            move(folder)

    def save(state: dict, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
        done.append(f"wrote {path} (step {state['step']})")

    rng = {"torch_rng": torch.get_rng_state(), "from_gpu_session": str(out)}
    if "denoiser" in states:
        s = states["denoiser"]
        before = int(carried["step"]) + int(carried.get("base_step", 0))
        note = carried.get("note") or "denoiser: trained"
        note += f", then fine-tuned {s['step']} more steps on {_where(session, 'denoiser')}"
        note += _sets_text(session["sets"], ("procedural", "synfig", "tvlike"), "on")
        keep = {k: s[k] for k in ("ema", "config", "scale_factor")}
        save({**keep, "model": s["ema"], "step": before + int(s["step"]), "note": note, **rng}, under(runs, DENOISER))
    if "student" in states:
        s = states["student"]
        teacher = "that denoiser" if "denoiser" in states else "the pack's baseline"
        note = f"student: distilled on {_where(session, 'student')} from {teacher}, {s['step']} steps"
        keep = {k: s[k] for k in ("ema", "config", "scale_factor")}
        save({**keep, "model": s["ema"], "step": int(s["step"]), "note": note, **rng}, under(runs, STUDENT))
    if "decoder" in states:
        s = states["decoder"]
        earlier = sum(int(d["step"]) for d in moved_decoders)
        note = f"decoder: fine-tuned {s['step']} steps on {_where(session, 'decoder')}"
        note += _sets_text(session["sets"], ("tvlike", "procedural", "synfig"), "on the pack's samplers' latents of")
        keep = {k: s[k] for k in ("ema", "decoder_config", "motion_net") if k in s}
        # `made_elsewhere`: train_decoder.py keeps this note in front of its own when it starts from here.
        state = {**keep, "dec": s["ema"], "step": earlier + int(s["step"]), "note": note, "made_elsewhere": True}
        save({**state, **rng}, under(runs, TUNE_DECODER))
    missing = sorted({"denoiser", "student", "decoder"} - set(found))
    if missing:
        done.append(f"not in {out}: {', '.join(missing)} (the carried ones stay)")
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the GPU session's output folder (gpu_session.sh's $OUT)")
    ap.add_argument("--runs", default="runs", help="the recipe's run folders (those the session was prepared from)")
    args = ap.parse_args(argv)
    for line in bring_back(Path(args.out), Path(args.runs)):
        print(line)
    print(
        "next: /usr/bin/python3 -m models.training.train_pack --from student-decoder  "
        "(the tuning stages, the LoRA again and the still stage), then build_pack"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

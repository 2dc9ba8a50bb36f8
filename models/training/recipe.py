"""The bundled pack's training recipe as data: the data sets it builds and its stages, in order.

Each stage runs one trainer (`python3 -m models.training.<trainer>`) with fixed arguments into its run
folder under runs/; train_pack.py runs them. Stages are named for what they add. The decoder stages'
run folders keep the names they were first trained under (runs/decoder, runs/decoder2 …): existing
runs resume where they are, and the experiment log (docs/experiment-log.md) refers to them so.

    stage                      run folder        adds
    vae                        runs/vae          the latent space (encoder + reference decoder)
    denoiser                   runs/denoiser     the baseline denoiser
    lora                       runs/lora         the sepia LoRA adapter (coloured keyframes, sepia in-betweens)
    student                    runs/student      the 4-step student
    decoder-base               runs/decoder      the FlowDecoder on sampled latents (and the sample caches)
    decoder-perceptual         runs/decoder2     a stronger LPIPS-Squeeze term at a lower learning rate
    decoder-matching           runs/decoder3     the 1/16 cost volume between the keyframes
    decoder-perceptual-strong  runs/decoder4     LPIPS-Squeeze × 4: PSNR traded for LPIPS
    decoder-motion             runs/decoder5     the classical flow prior (the pack's motion graph) and τ
    decoder-fitted             runs/decoder6     crops as the letterbox fit shows them, Debian sprites, PSNR
    flow                       runs/flow         the learned motion graph (flow_net.py)
    decoder-learned-motion     runs/decoder8     the prior from the learned motion graph; TV-like clips
    decoder-tone               runs/decoder12    a gain and offset read from the latent: the LoRA's grade shows
    student-decoder            runs/student2     the student tuned end to end through the pack decoder
    baseline-decoder           runs/denoiser2    the baseline tuned through the pack decoder (its last DDIM steps)
    lora-tuned-base            runs/lora2        the sepia LoRA trained again on the tuned baseline
    decoder-still              runs/decoder14    held cels: still crops, gated corrections, blend in place
    motion-fusion              runs/fusion       the motion graph fuses the learned motion with OpenCV's flows
    (made elsewhere)           runs/decoder7     a decoder from outside the recipe (e.g. gpu_session.sh)

build_pack.py exports the decoder of the last of these run folders that holds a checkpoint, the
student of runs/student2 when it holds one (else runs/student's), the baseline of runs/denoiser2
when it holds one (else runs/denoiser's) and the LoRA of runs/lora2 when it holds one (else
runs/lora's), always on the exported baseline's weights; its motion graph is the motion fusion of
runs/fusion when it holds one (trained on the pack decoder's learned motion graph), else that graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VAE = "runs/vae/vae_last.pt"
DENOISER = "runs/denoiser/denoiser_last.pt"
STUDENT = "runs/student/student_last.pt"
LORA = "runs/lora/lora_last.pt"
# The student tuned through the pack decoder (tune_student.py): the pack's student when present.
TUNED_STUDENT = "runs/student2/student_last.pt"
# The baseline tuned through the pack decoder (tune_student.py --role baseline): the pack's when present.
TUNED_BASELINE = "runs/denoiser2/denoiser_last.pt"
# The LoRA trained again on that tuned baseline: the pack's LoRA when present.
TUNED_LORA = "runs/lora2/lora_last.pt"
# The decoder the tuning stages decode with and the still stage starts from (the tone stage's; a GPU
# session's decoder takes its place, gpu_return.py).
TUNE_DECODER = "runs/decoder12/decoder_last.pt"
# The motion fusion (motion_fusion.py): the pack's motion graph fuses the learned motion with OpenCV's
# flows when present.
FUSION = "runs/fusion/fusion_last.pt"


@dataclass(frozen=True)
class DataSet:
    """A triplet set the recipe builds when `folder`/val is missing: `python3 -m <builder> <args>`."""

    name: str
    folder: str
    builder: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    """One training stage: `python3 -m models.training.<trainer> --run <run> --steps N <args>`, N from the
    environment variable `steps_env` (default `steps`), after the sets in `data` are built."""

    name: str
    trainer: str
    run: str
    steps: int
    steps_env: str
    args: tuple[str, ...]
    data: tuple[str, ...] = ()
    about: str = ""


DATA_SETS = {
    s.name: s
    for s in (
        DataSet(
            "procedural",
            "data/procedural",
            "models.training.data.procedural",
            ("--out", "data/procedural", "--train", "2000", "--val", "150"),
        ),
        DataSet(
            "sepia",
            "data/sepia",
            "models.training.data.grade",
            ("--src", "data/procedural", "--out", "data/sepia", "--grade", "sepia", "--limit", "800"),
        ),
        DataSet(
            "sprites",
            "data/sprites",
            "models.training.data.sprites",
            ("--out", "data/sprites", "--cache", "data/debs", "--packages", "wesnoth-1.16-data", "pingus-data"),
        ),
        DataSet(
            "tvlike",
            "data/tvlike",
            "models.training.data.tvlike",
            ("--out", "data/tvlike", "--train", "600", "--val", "60", "--flows"),
        ),
    )
}

# The run folder (under runs/) of the first decoder stage, whose sample caches (samples_<split>.pt: the
# baseline's and the student's latents for the training clips) the later decoder stages read.
SAMPLES_RUN = "decoder"
# What every decoder stage reads: the frozen encoder, the samplers, and the first stage's sample caches.
_DECODER_INPUTS = ("--vae", VAE, "--denoiser", DENOISER, "--student", STUDENT)
_FINE_TUNE = (*_DECODER_INPUTS, "--samples", f"runs/{SAMPLES_RUN}")
# From the matching stage on: the cost volume, wider crops (so that motions fit in them), denser checkpoints.
# The LoRA stages (train_lora.py): coloured keyframes, sepia in-betweens.
_LORA_INPUTS = ("--data", "data/sepia", "--keys-from", "data/procedural", "--style", "sepia", "--vae", VAE)
# The tuning stages (tune_student.py): their sets and the pack decoder they tune through.
_TUNE_INPUTS = ("--data", "data/tvlike,data/sprites,data/procedural", "--vae", VAE)
_TUNE_DECODER = ("--decoder", TUNE_DECODER)
_MATCHING = ("--corr-radius", "4", "--crop", "20,32", "--batch", "6", "--ckpt-every", "100")

STAGES = (
    Stage(
        "vae",
        "train_vae",
        "runs/vae",
        3000,
        "VAE_STEPS",
        ("--data", "data/procedural"),
        ("procedural",),
        "the latent space: encoder and reference decoder",
    ),
    Stage(
        "denoiser",
        "train_denoiser",
        "runs/denoiser",
        4000,
        "DENOISER_STEPS",
        ("--data", "data/procedural", "--vae", VAE),
        ("procedural",),
        "the baseline denoiser",
    ),
    Stage(
        "lora",
        "train_lora",
        "runs/lora",
        1500,
        "LORA_STEPS",
        (*_LORA_INPUTS, "--base", DENOISER),
        ("procedural", "sepia"),
        "the sepia LoRA adapter on the frozen baseline: coloured keyframes, sepia in-betweens (a style transfer)",
    ),
    Stage(
        "student",
        "distill_student",
        "runs/student",
        800,
        "STUDENT_STEPS",
        ("--data", "data/procedural", "--vae", VAE, "--teacher", DENOISER),
        ("procedural",),
        "the 4-step student, distilled from the baseline",
    ),
    Stage(
        "decoder-base",
        "train_decoder",
        "runs/decoder",
        1500,
        "DECODER_STEPS",
        ("--data", "data/procedural", *_DECODER_INPUTS),
        ("procedural",),
        "the pack's FlowDecoder on the latents the baseline and the student sample (cached here)",
    ),
    Stage(
        "decoder-perceptual",
        "train_decoder",
        "runs/decoder2",
        700,
        "DECODER_FT_STEPS",
        ("--data", "data/procedural", *_FINE_TUNE, "--init", "runs/decoder/decoder_last.pt")
        + ("--lpips", "2.0", "--lr", "3e-4", "--seed", "4"),
        ("procedural",),
        "a stronger perceptual term at a lower learning rate",
    ),
    Stage(
        "decoder-matching",
        "train_decoder",
        "runs/decoder3",
        1200,
        "DECODER_CORR_STEPS",
        ("--data", "data/procedural", *_FINE_TUNE, "--init", "runs/decoder2/decoder_last.pt", *_MATCHING)
        + ("--lpips", "1.0", "--lr", "5e-4", "--seed", "5"),
        ("procedural",),
        "a 1/16 cost volume between the keyframes joins the flow estimate (it starts as a no-op, so the stage "
        "begins where the last one ended)",
    ),
    Stage(
        "decoder-perceptual-strong",
        "train_decoder",
        "runs/decoder4",
        400,
        "DECODER_PERC_STEPS",
        ("--data", "data/procedural", *_FINE_TUNE, "--init", "runs/decoder3/decoder_last.pt", *_MATCHING)
        + ("--lpips", "4.0", "--lr", "2e-4", "--seed", "6"),
        ("procedural",),
        "LPIPS-Squeeze × 4 at a low learning rate: trades ~0.15 dB PSNR for ~0.006 LPIPS-Alex",
    ),
    Stage(
        "decoder-motion",
        "train_decoder",
        "runs/decoder5",
        3000,
        "DECODER_MOTION_STEPS",
        ("--data", "data/procedural", *_FINE_TUNE, "--init", "runs/decoder4/decoder_last.pt", "--motion", *_MATCHING)
        + ("--lpips", "2.0", "--lpips-net", "alex", "--lr", "3e-4", "--seed", "7"),
        ("procedural",),
        "the classical flows of the pack's motion graph and τ join the decoder (new weights start at zero); "
        "LPIPS-Alex, the report's own measure",
    ),
    Stage(
        "decoder-fitted",
        "train_decoder",
        "runs/decoder6",
        1900,
        "DECODER_FIT_STEPS",
        ("--data", "data/procedural,data/sprites", *_FINE_TUNE, "--init", "runs/decoder5/decoder_last.pt", "--motion")
        + (*_MATCHING, "--lpips", "2.0", "--lpips-net", "alex", "--psnr", "0.3", "--lr", "2e-4", "--seed", "8")
        + ("--fitted", "0.5", "--fit-val-clips", "40", "--val-every", "250")
        + ("--baseline-clips", "100", "--student-clips", "400"),
        ("procedural", "sprites"),
        "half of the steps see their crops as the studio's letterbox fit shows a smaller frame; Debian's game "
        "sprites join the procedural clips; a little of the report's PSNR joins the loss",
    ),
    Stage(
        "flow",
        "flow_net",
        "runs/flow",
        10500,
        "FLOW_STEPS",
        ("--data", "data/tvlike:0.45,data/sprites:0.3,data/procedural:0.15,data/synfig:0.1"),
        ("tvlike", "sprites", "procedural"),
        "the learned motion graph: the motion through each middle-frame pixel, supervised by the TV-like clips' "
        "true flows and by every set's in-betweens (data/synfig joins when it was built)",
    ),
    Stage(
        "decoder-learned-motion",
        "train_decoder",
        "runs/decoder8",
        1500,
        "DECODER_LEARNED_STEPS",
        ("--data", "data/tvlike,data/procedural,data/sprites", *_DECODER_INPUTS, "--samples", "runs/decoder8")
        + ("--init", "runs/decoder6/decoder_last.pt", "--motion", "--motion-net", "runs/flow/flow_last.pt", *_MATCHING)
        + ("--lpips", "2.0", "--lpips-net", "alex", "--psnr", "0.3", "--lr", "2e-4", "--seed", "9")
        + ("--baseline-clips", "60", "--student-clips", "160", "--val-clips", "30"),
        ("tvlike", "procedural", "sprites"),
        "the prior now comes from the learned motion graph (its weights travel in the checkpoint); TV-like clips "
        "join the procedural and sprite clips (its own sample caches: the TV-like set comes first)",
    ),
    Stage(
        "decoder-tone",
        "train_decoder",
        str(Path(TUNE_DECODER).parent),
        2000,
        "DECODER_TONE_STEPS",
        ("--data", "data/tvlike,data/procedural,data/sprites", *_DECODER_INPUTS, "--samples", "runs/decoder8")
        + ("--init", "runs/decoder8/decoder_last.pt", "--motion", "--tone", *_MATCHING)
        + ("--style-pairs", "data/sepia:data/procedural", "--style-share", "0.5")
        + ("--style-lora", "runs/lora/lora_last.pt", "--style-lora-clips", "80")
        + ("--lpips", "2.0", "--lpips-net", "alex", "--psnr", "0.3", "--lr", "2e-4", "--seed", "13")
        + ("--baseline-clips", "60", "--student-clips", "160", "--val-clips", "30"),
        ("tvlike", "procedural", "sprites", "sepia"),
        "the decoder recolours what it chooses by a gain and offset per channel, one for the whole frame, that it "
        "reads from the latent (new weights start at zero); half of its steps decode sepia in-betweens (70% "
        "of them the LoRA's samples) from their coloured twins' keyframes, so that the LoRA's grade shows instead "
        "of the keyframes' colours",
    ),
    Stage(
        "student-decoder",
        "tune_student",
        str(Path(TUNED_STUDENT).parent),
        1500,
        "STUDENT_TUNE_STEPS",
        (*_TUNE_INPUTS, "--student", STUDENT, *_TUNE_DECODER, "--lr", "1e-4", "--seed", "5"),
        ("tvlike", "sprites", "procedural"),
        "the student tuned end to end through the pack decoder: its 4-step samples, decoded, scored against the "
        "true in-betweens (LPIPS-Alex, L1, PSNR), so that they are right as the decoder reads them",
    ),
    Stage(
        "baseline-decoder",
        "tune_student",
        str(Path(TUNED_BASELINE).parent),
        800,
        "BASELINE_TUNE_STEPS",
        ("--role", "baseline", *_TUNE_INPUTS, "--student", DENOISER, *_TUNE_DECODER)
        + ("--sample-steps", "25", "--grad-steps", "3", "--lr", "5e-5", "--seed", "6"),
        ("tvlike", "sprites", "procedural"),
        "the baseline tuned the same way through its last 3 of 25 DDIM steps (DRaFT-K)",
    ),
    Stage(
        "lora-tuned-base",
        "train_lora",
        str(Path(TUNED_LORA).parent),
        1500,
        "LORA_TUNED_STEPS",
        (*_LORA_INPUTS, "--base", TUNED_BASELINE),
        ("procedural", "sepia"),
        "the sepia LoRA trained again, as the lora stage, on the tuned baseline (the first one's adapters on it "
        "barely show their grade at scale 1)",
    ),
    Stage(
        "decoder-still",
        "train_decoder",
        "runs/decoder14",
        1000,
        "DECODER_STILL_STEPS",
        ("--data", "data/tvlike,data/procedural,data/sprites", "--vae", VAE)
        + ("--denoiser", TUNED_BASELINE, "--student", TUNED_STUDENT)
        + ("--init", TUNE_DECODER, "--motion", "--tone", "--gate", "--blend-in-place", *_MATCHING)
        + ("--still-share", "0.3")
        + ("--style-pairs", "data/sepia:data/procedural", "--style-share", "0.3")
        + ("--style-lora", TUNED_LORA, "--style-lora-clips", "80")
        + ("--lpips", "2.0", "--lpips-net", "alex", "--psnr", "0.3", "--lr", "1e-4", "--seed", "14")
        + ("--baseline-clips", "60", "--student-clips", "160", "--val-clips", "30", "--val-every", "250"),
        ("tvlike", "procedural", "sprites", "sepia"),
        "the decoder, last, on the pack's own samplers (the tuned baseline, student and LoRA; its own sample "
        "caches): 30% of its crops still — the start frame three times, or held but in a rectangle where the "
        "clip moves — the gate of its flow corrections (`--gate`), so that it keeps a held cel's pixels instead of "
        "nudging them, and the keyframes' own pixels as one candidate, their blend (`--blend-in-place`); the style "
        "pairs go on",
    ),
    Stage(
        "motion-fusion",
        "motion_fusion",
        str(Path(FUSION).parent),
        1500,
        "FUSION_STEPS",
        ("--data", "data/tvlike:0.45,data/sprites:0.3,data/procedural:0.15,data/synfig:0.1"),
        ("tvlike", "sprites", "procedural"),
        "the pack's motion graph fuses the learned motion with OpenCV's Farnebäck flows (computed by the studio) "
        "per pixel, by how well each one's halfway warps agree: the learned graph frozen, the pick trained on the "
        "flow stage's data and losses",
    ),
)

# A decoder stage from outside the recipe (e.g. a gpu_session.sh run), exported when present.
EXTERNAL_DECODER_RUN = "runs/decoder7"

# The decoder stages' run folders (relative to the runs folder), in order.
DECODER_RUNS = tuple(Path(s.run).name for s in STAGES if s.trainer == "train_decoder") + (
    Path(EXTERNAL_DECODER_RUN).name,
)


def under(runs: Path, recipe_path: str) -> Path:
    """A recipe path (runs/<folder>/<file>) under another runs folder."""
    return runs / Path(recipe_path).relative_to("runs")


def _tuned_or(runs: Path, tuned: str, trained: str) -> Path:
    """Under `runs`: `tuned` when that stage ran, else `trained`."""
    path = under(runs, tuned)
    return path if path.exists() else under(runs, trained)


def baseline_checkpoint(runs: Path) -> Path:
    """The pack's baseline under `runs`: the tuned one (baseline-decoder) when it ran, else the trained one."""
    return _tuned_or(runs, TUNED_BASELINE, DENOISER)


def lora_checkpoint(runs: Path) -> Path:
    """The pack's LoRA under `runs`: the one trained on the tuned baseline (lora-tuned-base) when it ran."""
    return _tuned_or(runs, TUNED_LORA, LORA)


def student_checkpoint(runs: Path) -> Path:
    """The pack's student under `runs`: the tuned one (student-decoder) when it ran, else the distilled one."""
    return _tuned_or(runs, TUNED_STUDENT, STUDENT)


def decoder_checkpoints(runs: Path) -> list[Path]:
    """The decoder stages' checkpoints under `runs` that exist, in recipe order (the last is the pack's)."""
    return [runs / d / "decoder_last.pt" for d in DECODER_RUNS if (runs / d / "decoder_last.pt").exists()]


def fusion_checkpoint(runs: Path) -> Path | None:
    """The pack's motion fusion under `runs` (motion-fusion stage) when it ran, else None."""
    path = under(runs, FUSION)
    return path if path.exists() else None

#!/usr/bin/env bash
# Longer training on a borrowed GPU machine, in one short, time-boxed call (docs/training.md, "On a GPU").
#
#   bash models/training/gpu_session.sh prepare   # here: .gpu/ = slim checkpoints of runs/, the Synfig set, LPIPS weights
#                                                 # (RUNS, DATA and CARRY name other folders)
#   bash models/training/gpu_session.sh train     # there (a copy of the repo with .gpu/): trains, writes $OUT
#   python3 -m models.training.gpu_return --out OUT  # here again: $OUT's models into runs/, then
#                                                   # train_pack.py --from student-decoder, build_pack.py
#
# `train` continues the pack's models from the checkpoints in .gpu/: it builds PROC_TRAIN procedural
# training clips (seeds 0 …, the recipe's clips and more) and TV_TRAIN TV-like ones, with their validation
# clips, in SHARDS parallel processes, then runs two jobs side by side on the one GPU, each fitted to the
# time left (the trainers' --minutes):
#   - the denoiser, fine-tuned from the pack's EMA on the procedural, Synfig and TV-like sets, then a new
#     student distilled from it;
#   - the pack's decoder (FlowDecoder with every part the pack's has: cost volume, the motion prior from
#     the learned motion graph its checkpoint carries, tone, gate, the keyframes' blend in place),
#     fine-tuned from the pack's on latents the pack's baseline and student sample for every TV-like,
#     procedural and Synfig training clip (20% encoder latents), with the still stage's still crops and,
#     for the tone branch, sepia twins of the procedural clips sampled by the pack's LoRA.
# Everything stops BUDGET seconds after the start; $OUT then holds slim checkpoints (EMA weights,
# config, latent scale, the decoder's motion graph, step: CPU tensors), the same weights as weights.npz, the loss logs and this
# session's log — at most eight files, as the device tool returns them. Nothing in the project needs
# this: the recipe (train_pack.py) runs on a CPU. The script works from the repository root, where the
# trainers run as modules of the package models.training (python3 -m models.training.<trainer>).
set -uo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-.gpu}

if [ "${1:-}" = prepare ]; then
    set -e
    PY=${PY:-/usr/bin/python3}
    RUNS=${RUNS:-runs}
    DATA=${DATA:-data}
    mkdir -p "$CARRY"
    "$PY" - "$CARRY" "$RUNS" <<'EOF'
import sys
from pathlib import Path

import torch

from models.training.recipe import baseline_checkpoint, decoder_checkpoints, lora_checkpoint, student_checkpoint

out, runs = Path(sys.argv[1]), Path(sys.argv[2])
decoders = decoder_checkpoints(runs)
if not decoders:
    raise SystemExit(f"no decoder stage under {runs}")
keep = {"vae": (runs / "vae/vae_last.pt", ["enc", "dec", "step"]),
        # the pack's baseline and student: the ones tuned through the decoder when those stages ran
        "denoiser": (baseline_checkpoint(runs), ["ema", "config", "scale_factor", "step"]),
        "student": (student_checkpoint(runs), ["ema", "config", "scale_factor", "step"]),
        # the pack's decoder, with the learned motion graph it carries (when it has one)
        "decoder": (decoders[-1], ["ema", "decoder_config", "motion_net", "step"])}
if lora_checkpoint(runs).exists():  # the pack's LoRA: its samples teach the decoder's tone branch the grade
    keep["lora"] = (lora_checkpoint(runs), ["model", "config", "scale_factor", "style", "step"])
for name, (path, keys) in keep.items():
    state = torch.load(path, map_location="cpu")
    torch.save({k: state[k] for k in keys if k in state}, out / f"{name}.pt")
    print(f"{out / name}.pt from {path} (step {state['step']})")
EOF
    # The Synfig training clips and a few validation clips (the trainers want a validation split per set;
    # the decoder validates on the procedural set's). The device tool carries 64 MiB in all.
    if [ -d "$DATA/synfig/train" ]; then
        tar -cf "$CARRY/synfig.tar" -C "$DATA" synfig/train $(cd "$DATA" && ls -d synfig/val/* | head -4)
    fi
    for lp in ../shared/data/lpips/lpips_{alex,squeeze}_v0.1.safetensors; do
        if [ -f "$lp" ]; then cp "$lp" "$CARRY/"; fi
    done
    du -sh "$CARRY"
    exit 0
fi

[ "${1:-}" = train ] || { echo "usage: $0 prepare|train" >&2; exit 2; }
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
WORK=${WORK:-/tmp/gpu-work}
OUT=${OUT:-out/gpu}
BUDGET=${BUDGET:-540}        # seconds from the start until training has stopped
PROC_TRAIN=${PROC_TRAIN:-4000}
PROC_VAL=${PROC_VAL:-150}
TV_TRAIN=${TV_TRAIN:-600}    # TV-like clips (data/tvlike.py) for the decoder, as the recipe's last decoder stage
TV_VAL=${TV_VAL:-8}
SHARDS=${SHARDS:-16}
SEPIA_CLIPS=${SEPIA_CLIPS:-800}  # sepia twins of the procedural clips, for a decoder with the tone branch
THREADS=${THREADS:-6}
DEN_SHARE=${DEN_SHARE:-55}   # percent of the training time for the denoiser; the student gets the rest
DEN_BATCH=${DEN_BATCH:-64}
DEC_BATCH=${DEC_BATCH:-32}
STU_BATCH=${STU_BATCH:-64}
STU_PIXEL_BATCH=${STU_PIXEL_BATCH:-16}
SAMPLE_GROUP=${SAMPLE_GROUP:-128}
STU_MIN=${STU_MIN:-5}      # seconds the student gets at the least
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 PYTHONUNBUFFERED=1
START=$(date +%s)
mkdir -p "$OUT" "$WORK/data" "$WORK/runs/base"
exec > >(tee "$OUT/session.log") 2>&1
log() { echo "[$(( $(date +%s) - START )) s] $*"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
minutes() { awk -v s="$1" 'BEGIN { printf "%.2f", s / 60 }'; }

log "device $DEVICE; $(nproc) cores; $($PY -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA")')"
cp "$CARRY"/{vae,denoiser,student,decoder}.pt "$WORK/runs/base/" || { log "no checkpoints in $CARRY: run '$0 prepare' first"; exit 1; }
if [ -f "$CARRY/lora.pt" ]; then cp "$CARRY/lora.pt" "$WORK/runs/base/"; fi
BASE=$WORK/runs/base
# A VAE read back from a pack (from_pack.py) has the encoder only: the student then distils without the
# pixel term, which decodes with the VAE's own decoder.
if ! "$PY" -c 'import sys, torch; sys.exit("dec" not in torch.load(sys.argv[1], map_location="cpu"))' "$BASE/vae.pt"; then
    STU_PIXEL_BATCH=0
    log "the carried VAE has no decoder (read back from a pack): the student distils without the pixel term"
fi

# Data: each set (models/training/data/<name>.py) in SHARDS parallel processes; clip seeds are fixed, so
# the shards add up to the same set. (Waits name their processes: a bare `wait` would also wait for the
# log's tee.)
build_set() {  # name, training clips, validation clips
    local name=$1 train=$2 val=$3 per k n pids=()
    per=$(( (train + SHARDS - 1) / SHARDS ))
    for k in $(seq 0 $(( SHARDS - 1 ))); do
        n=$(( train - k * per )); [ "$n" -gt "$per" ] && n=$per; [ "$n" -le 0 ] && break
        "$PY" -m "models.training.data.$name" --out "$WORK/data/$name" --train "$n" --val 0 --seed $(( k * per )) \
            >"$WORK/${name}_$k.log" 2>&1 &
        pids+=($!)
    done
    "$PY" -m "models.training.data.$name" --out "$WORK/data/$name" --train 0 --val "$val" >"$WORK/${name}_val.log" 2>&1 &
    pids+=($!)
    wait "${pids[@]}"
    log "$name: $(ls "$WORK/data/$name/train" 2>/dev/null | wc -l) train, $(ls "$WORK/data/$name/val" | wc -l) val clips"
}
build_set procedural "$PROC_TRAIN" "$PROC_VAL"
build_set tvlike "$TV_TRAIN" "$TV_VAL"
DATA=$WORK/data/procedural
if [ -f "$CARRY/synfig.tar" ]; then
    tar -xf "$CARRY/synfig.tar" -C "$WORK/data" && DATA=$DATA,$WORK/data/synfig
    log "synfig: $(ls "$WORK/data/synfig/train" | wc -l) train clips"
fi
# The decoder continues as the pack's was made (recipe.py's last decoder stage): every part its config
# names — cost volume, motion prior from the learned motion graph its checkpoint carries (--motion with
# --init), tone, gate, the keyframes' blend in place — and, for a decoder of the still stage (gate or blend),
# its share of still crops; train_decoder refuses an --init with parts its options leave out.
DEC_FLAGS=$("$PY" - "$BASE/decoder.pt" <<'EOF'
import sys

import torch

state = torch.load(sys.argv[1], map_location="cpu")
config = state.get("decoder_config", {})
flags = ["--corr-radius", str(config.get("corr_radius", 4))]
for key, flag in (("motion", "--motion"), ("tone", "--tone"), ("gate", "--gate"), ("blend_in_place", "--blend-in-place")):
    if config.get(key):
        flags.append(flag)
if config.get("gate") or config.get("blend_in_place"):
    flags += ["--still-share", "0.3"]
print(" ".join(flags))
EOF
)
# A decoder with the tone branch also learns, as the recipe's tone and still stages do, to show the LoRA's
# grade: a third of its crops decode sepia twins of the procedural training clips (70% of them from the
# carried LoRA's samples) on their coloured keyframes.
case " $DEC_FLAGS " in
*" --tone "*)
    if [ -f "$BASE/lora.pt" ] && "$PY" -m models.training.data.grade --src "$WORK/data/procedural" \
        --out "$WORK/data/sepia" --grade sepia --limit "$SEPIA_CLIPS" >"$WORK/sepia.log" 2>&1; then
        DEC_FLAGS="$DEC_FLAGS --style-pairs $WORK/data/sepia:$WORK/data/procedural --style-share 0.3"
        DEC_FLAGS="$DEC_FLAGS --style-lora $BASE/lora.pt --style-lora-clips 80"
        log "sepia: $(ls "$WORK/data/sepia/train" | wc -l) train clips"
    else
        log "no LoRA carried (or no sepia set): the decoder's tone branch trains without the sepia pairs"
    fi ;;
esac
LPIPS=$CARRY/lpips_alex_v0.1.safetensors
log "decoder: $DEC_FLAGS$( [ -f "$LPIPS" ] || echo ' (no LPIPS weights carried: no LPIPS term)')"

train_time=$(left)
den_s=$(( train_time * DEN_SHARE / 100 ))
# gpu_return.py reads this line back into the checkpoints' notes (how the pack's parts were made).
log "batches: denoiser $DEN_BATCH, student $STU_BATCH, decoder $DEC_BATCH"
log "training for $train_time s: denoiser $den_s s then the student; the decoder alongside"
(
    # The TV-like clips too: the pack's denoiser was trained with the diffusion loss on procedural and Synfig
    # clips only, and on TV-like clips its samples are barely nearer the true latent than the keyframes' average.
    timeout $(( den_s + 30 )) "$PY" -m models.training.train_denoiser --data "$DATA,$WORK/data/tvlike" \
        --vae "$BASE/vae.pt" --init "$BASE/denoiser.pt" \
        --run "$WORK/runs/denoiser" --steps 1000000 --batch "$DEN_BATCH" --lr 2e-4 --ema 0.999 --ckpt-every 1000 --bf16 \
        --minutes "$(minutes "$den_s")" --device "$DEVICE" --threads "$THREADS" 2>&1 | sed -u 's/^/[denoiser] /'
    # The student gets what is left, and at least STU_MIN seconds (a trainer past its time still ends
    # after one step), so a session that ran late still leaves a student to pick up.
    s=$(( $(left) - 10 )); [ "$s" -lt "$STU_MIN" ] && s=$STU_MIN
    [ -f "$WORK/runs/denoiser/denoiser_last.pt" ] &&
    timeout $(( s + 30 )) "$PY" -m models.training.distill_student --data "$WORK/data/procedural" --vae "$BASE/vae.pt" \
        --teacher "$WORK/runs/denoiser/denoiser_last.pt" --run "$WORK/runs/student" --steps 1000000 --batch "$STU_BATCH" \
        --pixel-batch "$STU_PIXEL_BATCH" --ema 0.999 --ckpt-every 1000 --bf16 --minutes "$(minutes "$s")" --device "$DEVICE" \
        --threads "$THREADS" 2>&1 | sed -u 's/^/[student] /'
) &
first=$!
# shellcheck disable=SC2086 # DEC_FLAGS is a list of flags
timeout $(( train_time + 30 )) "$PY" -m models.training.train_decoder --data "$WORK/data/tvlike,$DATA" --vae "$BASE/vae.pt" \
    --denoiser "$BASE/denoiser.pt" --student "$BASE/student.pt" --init "$BASE/decoder.pt" $DEC_FLAGS --run "$WORK/runs/decoder" \
    --steps 1000000 --batch "$DEC_BATCH" --crop 20,32 --lpips 2.0 --lpips-net alex --lpips-weights "$LPIPS" --psnr 0.3 \
    --lr 2e-4 --ema 0.999 \
    --seed 6 --baseline-clips 1000000 --student-clips 1000000 --sample-group "$SAMPLE_GROUP" --ckpt-every 500 \
    --minutes "$(minutes $(( train_time - 10 )))" --device "$DEVICE" --threads "$THREADS" 2>&1 | sed -u 's/^/[decoder] /'
wait "$first"
log "training done"

# Slim checkpoints, the same weights as .npz (readable by any numpy), and the loss logs.
"$PY" - "$WORK/runs" "$OUT" <<'EOF'
import sys
from pathlib import Path

import numpy as np
import torch

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
arrays = {}
for name in ("denoiser", "student", "decoder"):
    path = runs / name / f"{name}_last.pt"
    if not path.exists():
        print(f"{name}: no checkpoint")
        continue
    state = torch.load(path, map_location="cpu")
    slim = {k: state[k] for k in ("ema", "config", "scale_factor", "decoder_config", "motion_net", "step") if k in state}
    torch.save(slim, out / f"{name}.pt")
    arrays.update({f"{name}/{k}": v.numpy() for k, v in state["ema"].items()})
    print(f"{name}: step {state['step']}")
np.savez(out / "weights.npz", **arrays)
EOF
for name in denoiser student decoder; do
    [ -f "$WORK/runs/$name/${name}_log.csv" ] && cp "$WORK/runs/$name/${name}_log.csv" "$OUT/"
done
log "done: $(ls "$OUT" | tr '\n' ' ')"

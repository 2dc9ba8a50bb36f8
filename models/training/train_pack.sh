#!/usr/bin/env bash
# The bundled pack's training recipe: the stages of models/training/recipe.py, run in order by
# train_pack.py (resumable; step counts from VAE_STEPS, DENOISER_STEPS, … — see `--list`).
#   bash models/training/train_pack.sh [--list] [--from STAGE] [--to STAGE]   (from any folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 -m models.training.train_pack "$@"

#!/usr/bin/env bash
# Set up (scripts/setup.sh, the package without extras), generate the context dataset and train IDRNet-FCN on it, on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
IDRNET_EXTRAS="" bash scripts/setup.sh  # the package alone: training needs none of the test extras
export HF_HUB_OFFLINE=1
if [ ! -f data/synth/dataset.yaml ]; then
    # --overwrite: a generation interrupted before its dataset.yaml left generated files only
    .venv/bin/idrnet data synth data/synth --num-train 400 --num-val 100 --size 128 --seed 0 --overwrite
fi
if [ -f runs/quickstart/final.safetensors ] && [ $# -eq 0 ]; then
    echo "runs/quickstart already holds a trained model (runs/quickstart/final.safetensors);"
    echo "bash scripts/quickstart.sh --overwrite trains it again."
    exit 0
fi
.venv/bin/idrnet train configs/quickstart_synth_idrnet_fcn_r18.yaml "$@"

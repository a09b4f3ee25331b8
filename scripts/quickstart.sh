#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the quickstart demo on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/idrnet models idrnet_
.venv/bin/python examples/quickstart.py

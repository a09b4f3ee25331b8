#!/usr/bin/env bash
# Create .venv (if needed) and install idrnet with its test dependencies into it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# pip takes torch/torchvision from the machine's local wheels where a pip constraint file points at
# them (torch 2.14.1 / torchvision 0.29.1 here); elsewhere from PyPI within the declared ranges.
# IDRNET_EXTRAS picks the extras: "test" (default: everything the tests use, several GB with OpenVINO and
# Playwright) or empty for the package alone (scripts/quickstart.sh).
EXTRAS="${IDRNET_EXTRAS-test}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
if [ "$EXTRAS" != "test" ]; then
    exit 0
fi
# The corruptions' reference implementation, for tests only (tests/test_corruptions.py). Without its
# dependencies: it asks for opencv-python, which would sit beside (and overwrite) the headless OpenCV.
# mmsegmentation's metric code, the same way and for tests only (tests/test_metrics_mmseg.py reads it
# from the installed file: importing mmseg needs the compiled mmcv).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "imagecorruptions==1.1.2" \
    "mmsegmentation==1.2.2"

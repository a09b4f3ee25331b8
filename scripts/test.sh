#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite on the CPU, offline. Fails if no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_browser.sh
export HF_HUB_OFFLINE=1 IDRNET_OFFLINE=1 CUDA_VISIBLE_DEVICES=""
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
# A hang (a test, or the interpreter's exit waiting for a process a test left behind) ends the run
# after 45 minutes with an error instead of holding CI until its own limit.
timeout --kill-after 30 2700 .venv/bin/python -m pytest -q -p no:cacheprovider --durations=30 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "scripts/test.sh: ERROR: the tests did not finish within 45 minutes" >&2
    exit 1
fi
if [ "$status" -eq 5 ] || ! grep -Eq '[0-9]+ passed' "$log"; then
    echo "scripts/test.sh: ERROR: no test ran" >&2
    exit 1
fi
exit "$status"

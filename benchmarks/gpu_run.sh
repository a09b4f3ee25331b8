#!/usr/bin/env bash
# One bounded GPU session for issue 28 (at most 8 minutes of wall-clock on a one-GPU H200 host).
#
#   bash benchmarks/gpu_run.sh [--dry-run]        # from the repository root
#
# Writes GPU_OUT (default benchmarks/results/gpu_<date>/): env.json (what the host has), steps.jsonl
# (each step's command, exit code and seconds), one log per step, cuda_tests.xml, gpu_bench.jsonl.
# Through the device tool, point GPU_OUT into $OUT so the records come back:
#   GPU_OUT=$OUT/gpu_$(date +%F) bash benchmarks/gpu_run.sh
#
# The host reaches no network: the script uses the Python there (PYTHON, default python3) with idrnet
# from this working tree (PYTHONPATH=src, nothing installed), plus any wheels carried in
# build/gpu_wheels/ (installed --no-deps into a temporary folder), e.g. the reference for the
# side-by-side figures, made here beforehand with
#   pip wheel --no-deps sssegmentation==1.7.0 -w build/gpu_wheels
# and carried to the host (the device tool's carry: ["build/gpu_wheels"]). What that Python has (torch and CUDA versions, GPU, which
# of idrnet's dependencies import) is not known yet — this script has never run on a GPU host — so the
# first step records it in env.json, and a step whose needs are missing is reported as such, never
# skipped silently. --dry-run (any host): print every step and its command, check that the files they
# use exist, run nothing.
set -u
cd "$(dirname "$0")/.."
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; elif [ -n "${1:-}" ]; then echo "usage: $0 [--dry-run]" >&2; exit 2; fi
PY=${PYTHON:-python3}
OUT=${GPU_OUT:-benchmarks/results/gpu_$(date +%F)}
export PYTHONPATH="$PWD/src:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 IDRNET_OFFLINE=1 PYTHONUNBUFFERED=1
START=$(date +%s)
BUDGET=${GPU_BUDGET_S:-480}

for needed in tests/test_cuda.py benchmarks/gpu_bench.py benchmarks/bench_vs_reference.py; do
    [ -f "$needed" ] || { echo "gpu_run: missing $needed" >&2; exit 2; }
done
[ $DRY = 1 ] || mkdir -p "$OUT"

# step NAME SECONDS COMMAND...: run with a time limit that never passes the session budget
step() {
    local name=$1 limit=$2; shift 2
    local left=$(( BUDGET - ($(date +%s) - START) ))
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit} s): $*"
    if [ $DRY = 1 ]; then echo "   dry run: not executed"; return 0; fi
    if [ "$limit" -le 5 ]; then
        echo "   NOT RUN: the ${BUDGET} s budget is spent"
        echo "{\"step\": \"$name\", \"rc\": null, \"why\": \"budget spent\"}" >> "$OUT/steps.jsonl"
        return 0
    fi
    local t0=$(date +%s)
    timeout --signal=TERM --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$? t1=$(date +%s)
    echo "   exit $rc after $(( t1 - t0 )) s (log: $OUT/$name.log)"
    [ $rc = 124 ] && echo "   TIMED OUT at ${limit} s"
    tail -n 5 "$OUT/$name.log" | sed 's/^/   | /'
    printf '{"step": "%s", "rc": %s, "seconds": %s, "command": "%s"}\n' "$name" "$rc" "$(( t1 - t0 ))" "$*" >> "$OUT/steps.jsonl"
}

# 0. carried wheels (the reference), into a folder of their own
if ls build/gpu_wheels/*.whl > /dev/null 2>&1; then
    WHEELS=$(mktemp -d)
    step wheels 60 "$PY" -m pip install --no-deps --no-index --target "$WHEELS" build/gpu_wheels/*.whl
    export PYTHONPATH="$PYTHONPATH:$WHEELS"
else
    echo "== wheels: none carried in build/gpu_wheels/ (the reference will be reported as not installed)"
fi

# 1. what the host has
step env 60 "$PY" - "$OUT/env.json" <<'PYEOF'
import importlib, json, os, platform, subprocess, sys
facts = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
for name in ("torch", "torchvision", "numpy", "safetensors", "yaml", "timm", "scipy", "PIL", "cv2", "tqdm",
             "fastapi", "httpx", "onnx", "onnxruntime", "openvino", "segmentation_models_pytorch", "pytest",
             "ssseg", "skimage"):
    try:
        module = importlib.import_module(name)
        facts[name] = getattr(module, "__version__", "present")
    except Exception as err:  # noqa: BLE001 - record why
        facts[name] = f"missing: {type(err).__name__}: {err}"[:200]
try:
    import torch
    facts["cuda_available"] = torch.cuda.is_available()
    facts["cuda"] = torch.version.cuda
    facts["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    facts["nccl"] = ".".join(map(str, torch.cuda.nccl.version())) if torch.cuda.is_available() else None
except Exception as err:  # noqa: BLE001
    facts["torch_error"] = str(err)
try:
    import onnxruntime
    facts["onnxruntime_providers"] = onnxruntime.get_available_providers()
except Exception:  # noqa: BLE001
    pass
try:
    facts["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                          "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
except Exception as err:  # noqa: BLE001
    facts["nvidia_smi"] = f"unavailable: {err}"
json.dump(facts, open(sys.argv[1], "w"), indent=1)
print(json.dumps(facts, indent=1))
PYEOF

# 2. the tests marked cuda (each skips with its reason when a need is missing)
step cuda_tests 200 "$PY" -m pytest -m cuda tests/test_cuda.py -v -rs -p no:cacheprovider --junitxml "$OUT/cuda_tests.xml"

# 3. speed and memory, ours and the reference side by side; each part writes as it goes
step bench_train 110 "$PY" benchmarks/gpu_bench.py --out "$OUT" --parts train
step bench_eval 60 "$PY" benchmarks/gpu_bench.py --out "$OUT" --parts eval
step bench_compiled 150 "$PY" benchmarks/gpu_bench.py --out "$OUT" --parts compiled

echo "== done in $(( $(date +%s) - START )) s; records in $OUT"

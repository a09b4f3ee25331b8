#!/usr/bin/env bash
# Every bf16 CPU measurement of docs/benchmarks.md in one bounded go, for a CPU with native bf16
# (AVX512-BF16 or AMX); on a CPU without it bf16 is emulated and these figures mean nothing.
#
#   bash benchmarks/bf16_host_run.sh RESULTS_DIR [SECONDS]     # default 480 s
#
# Jobs run side by side, each on its own physical cores (latency: 2 threads; training: 2, or 4 on 12+ cores),
# and each stops at the deadline:
#   A  UPerNet-IDRNet R50 ADE20K and its baseline, 384×384: fp32 vs bf16 eager, then eager + compiled;
#      between the two, the bf16 accuracy cost of the trained context_ab models in runs/context_ab
#      (idrnet and baseline_fcn, seed 0, if present)
#   B  the same latency table at 512×512
#   C  context_ab IDRNet-FCN seed 0 trained in fp32, then the bf16 accuracy cost of that model
#   D  context_ab IDRNet-FCN seed 0 trained with bf16 autocast (amp=bf16): step time and final mIoU
# Jobs side by side share the memory bus, so latency ratios (interleaved within a job) are fair while
# absolute figures are those of a loaded machine.
set -u
RES=${1:?usage: bf16_host_run.sh RESULTS_DIR [SECONDS]}
BUDGET=${2:-480}
PY=${PYTHON:-python3}
mkdir -p "$RES"
START=$(date +%s)
END=$((START + BUDGET))

# One CPU per physical core (siblings of a hyper-threaded core would share its arithmetic units).
mapfile -t PHYS < <("$PY" - <<'EOF'
import os
seen, cpus = set(), []
for cpu in sorted(os.sched_getaffinity(0)):
    base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
    try:
        key = (open(f"{base}/physical_package_id").read().strip(), open(f"{base}/core_id").read().strip())
    except OSError:
        key = ("?", str(cpu))
    if key not in seen:
        seen.add(key)
        cpus.append(cpu)
if len(cpus) < 8:  # a small machine: jobs share cores (the timings then mean little)
    every = sorted(os.sched_getaffinity(0))
    cpus = [every[i % len(every)] for i in range(8)]
print(*cpus, sep="\n")
EOF
)
{
  echo "date: $(date -u)"; echo "physical cores: ${#PHYS[@]} (${PHYS[*]})"; nproc
  grep -m1 'model name' /proc/cpuinfo
  grep -o -w 'avx512f\|avx512_bf16\|avx512_vnni\|amx_bf16\|amx_tile\|amx_int8' /proc/cpuinfo | sort | uniq -c
  "$PY" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
} > "$RES/host.txt" 2>&1
cores() { local IFS=,; echo "${PHYS[*]:$1:$2}"; }  # cores FIRST COUNT
# Training gets 4 cores each where the machine has 12 or more, so that it ends within the budget.
T=2; [ "${#PHYS[@]}" -ge 12 ] && T=4

step() {  # step CORES LOG COMMAND...: run bounded by the deadline, log appended, time line recorded
  local cores=$1 log=$2; shift 2
  local left=$((END - $(date +%s)))
  if [ "$left" -lt 20 ]; then echo "skipped (no time left): $*" >> "$RES/$log.log"; return 1; fi
  echo "+ $*" >> "$RES/$log.log"
  OMP_NUM_THREADS=$(( $(tr -cd , <<< "$cores" | wc -c) + 1 )) taskset -c "$cores" timeout "$left" "$@" >> "$RES/$log.log" 2>&1
  local rc=$?
  echo "$log: exit $rc at $(( $(date +%s) - START )) s: $*" >> "$RES/timeline.txt"
  return $rc
}

step "$(cores 0 2)" probe "$PY" benchmarks/bf16_cpu_probe.py --threads 2

LATENCY=(benchmarks/bench_precision.py --frameworks UPerNet --runs 4 --threads 2 --precisions fp32 bf16)
ACCURACY=(benchmarks/precision_accuracy.py --seeds 0 --threads 2 --precisions fp32 bf16 --backends eager compile)
TRAIN=(benchmarks/context_ab.py --variants idrnet --seeds 0 --iterations 600)

(
  step "$(cores 0 2)" A "$PY" "${LATENCY[@]}" --sizes 384 --backends eager --out "$RES/latency_eager_384.jsonl"
  variants=()
  for v in idrnet baseline_fcn; do [ -f "runs/context_ab/$v/seed_0/final.safetensors" ] && variants+=("$v"); done
  [ "${#variants[@]}" -gt 0 ] && step "$(cores 0 2)" A "$PY" "${ACCURACY[@]}" --runs runs/context_ab \
    --variants "${variants[@]}" --out "$RES/accuracy_context_ab.jsonl"
  step "$(cores 0 2)" A "$PY" "${LATENCY[@]}" --sizes 384 --backends eager compile --out "$RES/latency_compile_384.jsonl"
) &
(
  step "$(cores 2 2)" B "$PY" "${LATENCY[@]}" --sizes 512 --backends eager --out "$RES/latency_eager_512.jsonl"
  step "$(cores 2 2)" B "$PY" "${LATENCY[@]}" --sizes 512 --backends eager compile --out "$RES/latency_compile_512.jsonl"
) &
(
  step "$(cores 4 $T)" C "$PY" "${TRAIN[@]}" --out "$RES/train_fp32" --docs "$RES/train_fp32"
  step "$(cores 4 $T)" C "$PY" "${ACCURACY[@]}" --runs "$RES/train_fp32" --variants idrnet \
    --out "$RES/accuracy_trained_here.jsonl"
) &
(
  step "$(cores $((4 + T)) $T)" D "$PY" "${TRAIN[@]}" --set amp=bf16 --out "$RES/train_bf16" --docs "$RES/train_bf16"
) &
wait
echo "finished after $(( $(date +%s) - START )) s" >> "$RES/timeline.txt"

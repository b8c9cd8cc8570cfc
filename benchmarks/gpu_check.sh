#!/usr/bin/env bash
# One GPU check on a bare CUDA machine: set up, run tests/gpu, the GPU benchmark and one
# full-budget table, and write everything under $OUT. Sized to finish in under 8 minutes.
#
#   bash benchmarks/gpu_carry.sh          # here, once: fills .gpu-carry/ (git-ignored)
#   OUT=/some/dir bash benchmarks/gpu_check.sh             # there: the GPU machine
#   OUT=/tmp/x bash benchmarks/gpu_check.sh --dry-run      # anywhere: CPU, toy sizes
#
# The GPU machine has python3 with torch, Triton and CuPy and no network. What spikebit
# needs beyond that travels in .gpu-carry/ (SPIKEBIT_CARRY overrides): wheels/ (installed
# with --no-index --no-deps, only those whose module is missing there) and
# data/fashion-mnist/ (the data cache's Fashion-MNIST; SPIKEBIT_DATA points at data/).
# spikebit itself: `pip install --no-deps -e .` when the machine's pip and setuptools allow
# it, else PYTHONPATH=src (the same code, from this checkout).
#
# Steps and their time limits (seconds; GPU_CHECK_SECONDS sets the total, default 450):
#   setup 60 | tests/gpu 150 | zoo models on CUDA (tests/contract) 90 |
#   neuron_speed GPU section 180 | ALBSNN Table 5: the rest
# Results in $OUT: gpu_check.json (steps, status, seconds, environment), gpu_check.log,
# tests_gpu.xml, tests_contract_cuda.xml, neuron_speed_gpu.json, albsnn-table5-gpu.json.
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT="${OUT:-$REPO/gpu-out}"
CARRY="${SPIKEBIT_CARRY:-$REPO/.gpu-carry}"
PY="${PYTHON:-python3}"
TOTAL="${GPU_CHECK_SECONDS:-450}"
SITE="${TMPDIR:-/tmp}/spikebit-gpu-site"
WORK="${TMPDIR:-/tmp}/spikebit-gpu-runs"
mkdir -p "$OUT" "$SITE"
LOG="$OUT/gpu_check.log"
: > "$LOG"
STEPS="$OUT/.steps.tsv"
: > "$STEPS"
START=$(date +%s)
cd "$REPO" || exit 2

log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }

# step NAME LIMIT CMD...: run with a time limit, log output, record status and seconds
step() {
  local name="$1" limit="$2"; shift 2
  local t0 rc
  t0=$(date +%s)
  log "step $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - t0 ))" >> "$STEPS"
  log "step $name: exit $rc after $(( $(date +%s) - t0 ))s"
  return $rc
}

left() { echo $(( TOTAL - ($(date +%s) - START) )); }

# -- setup ----------------------------------------------------------------------------
export PYTHONPATH="$REPO/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
if [ -d "$CARRY/data" ]; then export SPIKEBIT_DATA="$CARRY/data"; fi
if [ "$DRY" = 1 ]; then export SPIKEBIT_GPU_BENCH_DRY=1; fi

setup() {
  "$PY" - "$CARRY/wheels" "$SITE" <<'EOF' || return 1
import importlib.util, pathlib, subprocess, sys
wheels, site = pathlib.Path(sys.argv[1]), sys.argv[2]
modules = {"numpy": "numpy", "pyyaml": "yaml", "safetensors": "safetensors", "pytest": "pytest",
           "pluggy": "pluggy", "iniconfig": "iniconfig", "packaging": "packaging",
           "spikingjelly": "spikingjelly", "loguru": "loguru", "pillow": "PIL",
           "pygments": "pygments", "exceptiongroup": "exceptiongroup", "tomli": "tomli"}
need = []
for whl in sorted(wheels.glob("*.whl")) if wheels.is_dir() else []:
    dist = whl.name.split("-")[0].lower().replace("_", "-")
    module = modules.get(dist, dist.replace("-", "_"))
    if importlib.util.find_spec(module) is None:
        need.append(str(whl))
print("carried wheels to install:", [pathlib.Path(w).name for w in need] or "none")
if need:
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet",
           "--target", site, *need]
    if subprocess.call(cmd) and subprocess.call(cmd + ["--break-system-packages"]):
        sys.exit("installing the carried wheels failed")
missing = [m for m in ("numpy", "yaml", "safetensors", "pytest", "torch")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing modules {missing}: put their wheels in {wheels} (benchmarks/gpu_carry.sh)")
EOF
  if [ "$DRY" = 1 ]; then
    log "dry run: spikebit from PYTHONPATH=$REPO/src (no install into this interpreter)"
  elif "$PY" -m pip install --no-deps --no-build-isolation --quiet -e "$REPO" >> "$LOG" 2>&1; then
    log "spikebit installed editable (pip install --no-deps -e .)"
  else
    log "editable install not possible here: using PYTHONPATH=$REPO/src"
  fi
  "$PY" - "$DRY" <<'EOF'
import sys, torch, spikebit
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available(), "spikebit", spikebit.__file__)
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
elif sys.argv[1] != "1":
    sys.exit("no CUDA device visible to torch: nothing to check (use --dry-run off-GPU)")
try:
    import triton
    print("triton", triton.__version__)
except ImportError:
    print("triton: not importable (backend='compiled' on CUDA needs it)")
EOF
}

export -f setup log
export REPO CARRY SITE PY DRY LOG
step setup 60 bash -c setup || log "setup failed: see $LOG"
SETUP_OK=$([ "$(tail -1 "$STEPS" | cut -f2)" = 0 ] && echo 1 || echo 0)
command -v nvidia-smi > /dev/null && nvidia-smi >> "$LOG" 2>&1

# -- tests/gpu ------------------------------------------------------------------------
if [ "$SETUP_OK" = 1 ]; then
  step tests_gpu 150 "$PY" -m pytest tests/gpu -q -rs -p no:cacheprovider \
    --junitxml="$OUT/tests_gpu.xml"
fi

if [ "$SETUP_OK" = 1 ]; then  # every zoo model on CUDA in float32/bfloat16 (tests/contract)
  step contract_cuda 90 "$PY" -m pytest tests/contract/test_device_dtype_contract.py -q -rs \
    -p no:cacheprovider -k on_cuda --junitxml="$OUT/tests_contract_cuda.xml"
fi

# -- GPU benchmark --------------------------------------------------------------------
if [ "$SETUP_OK" = 1 ]; then
  REPEATS=$([ "$DRY" = 1 ] && echo "--warmup 1 --train-repeats 2" || echo "")
  step neuron_speed_gpu 180 bash -c "cd benchmarks && '$PY' neuron_speed.py --gpu-only \
    $REPEATS --gpu-out '$OUT/neuron_speed_gpu.json'"
fi

# -- one full-budget table --------------------------------------------------------------
if [ "$SETUP_OK" = 1 ]; then
  if [ "$DRY" = 1 ]; then
    step albsnn_table5 120 "$PY" benchmarks/gpu_table.py --dry-run --work "$WORK" \
      --out "$OUT/albsnn-table5-gpu.json"
  elif [ -d "${SPIKEBIT_DATA:-/nonexistent}/fashion-mnist" ]; then
    REST=$(( $(left) - 30 ))   # the table's training allowance; the probe and slack fit in 30 s
    if [ "$REST" -gt 60 ]; then
      step albsnn_table5 $(( REST + 25 )) "$PY" benchmarks/gpu_table.py --device cuda \
        --seconds "$REST" --work "$WORK" --out "$OUT/albsnn-table5-gpu.json"
    else
      log "skipping the table: only $(left)s left of ${TOTAL}s"
    fi
  else
    log "skipping the table: no Fashion-MNIST in $CARRY/data (run benchmarks/gpu_carry.sh)"
  fi
fi

# -- summary ----------------------------------------------------------------------------
"$PY" - "$STEPS" "$OUT/gpu_check.json" "$DRY" "$TOTAL" <<'EOF'
import json, platform, sys, time
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l.strip()]
steps = {n: {"exit": int(rc), "ok": rc == "0", "seconds": int(s)} for n, rc, s in rows}
try:
    import torch
    env = {"torch": torch.__version__, "cuda": torch.version.cuda,
           "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
except Exception as exc:  # noqa: BLE001
    env = {"error": str(exc)}
summary = {"dry_run": sys.argv[3] == "1", "budget_seconds": int(sys.argv[4]), "steps": steps,
           "all_ok": all(s["ok"] for s in steps.values()), "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **env}
open(sys.argv[2], "w").write(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
EOF
rm -f "$STEPS"
log "done in $(( $(date +%s) - START ))s; results in $OUT"

#!/usr/bin/env bash
# Fill .gpu-carry/ (git-ignored) with what benchmarks/gpu_check.sh needs on a GPU machine
# that has python3 + torch but no network: Fashion-MNIST from the data cache and wheels of
# spikebit's small dependencies (pure-Python ones work on any Python; PyYAML for PYVER).
#
#   bash benchmarks/gpu_carry.sh                 # PYVER=3.12, without numpy
#   PYVER=3.11 WITH_NUMPY=1 bash benchmarks/gpu_carry.sh
#
# The carried pytest and SpikingJelly need Python >= 3.11 on the GPU machine (older: the
# machine's own pytest is used if it has one; SpikingJelly is then reported unavailable).
#
# Carried to the GPU machine as one path (".gpu-carry"); keep it under 64 MiB (Fashion-MNIST
# is 30 MiB, the wheels a few MiB; numpy adds ~16 MiB, only when WITH_NUMPY=1).
set -eu
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARRY="${SPIKEBIT_CARRY:-$REPO/.gpu-carry}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
PYVER="${PYVER:-3.12}"
CACHE="${SPIKEBIT_DATA:-$HOME/.cache/spikebit}"
mkdir -p "$CARRY/data" "$CARRY/wheels"
if [ ! -d "$CACHE/fashion-mnist" ]; then
  PYTHONPATH="$REPO/src" "$PY" -m spikebit.cli.main data fetch fashion-mnist
fi
cp -r "$CACHE/fashion-mnist" "$CARRY/data/"
PURE="pytest pluggy iniconfig packaging pygments loguru spikingjelly==2.0.0"
BINARY="pyyaml safetensors"
[ "${WITH_NUMPY:-0}" = 1 ] && BINARY="$BINARY numpy"
"$PY" -m pip download --no-deps --only-binary=:all: -d "$CARRY/wheels" $PURE
"$PY" -m pip download --no-deps --only-binary=:all: --python-version "$PYVER" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d "$CARRY/wheels" $BINARY
du -sh "$CARRY"

#!/usr/bin/env bash
# Create benchmarks/.venv-peers (git-ignored) with the peer SNN libraries that
# benchmarks/neuron_speed.py compares spikebit against: SpikingJelly, snnTorch, Norse.
#
# The peers are installed with --no-deps so that pip can never replace the pinned
# torch (2.13.0, the same build the project venv uses) with another one; their
# pure-Python imports are installed explicitly below. torchvision and anything that
# needs a newer torch are deliberately NOT installed.
#
# Usage: bash benchmarks/setup_peers.sh        (then: benchmarks/.venv-peers/bin/python
#        benchmarks/neuron_speed.py)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/benchmarks/.venv-peers}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
# The versions benchmarks/README.md reports; override (e.g. PEERS="spikingjelly snntorch
# norse" for the newest) to measure others. neuron_speed.py records what it ran.
PEERS="${PEERS:-spikingjelly==2.0.0 snntorch==1.0.0 norse==1.1.0}"
NIR="${NIR:-nir==1.0.8 nirtorch==2.6}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

"${PIP[@]}" install --quiet --upgrade pip
# The same torch as the project venv (a local wheel on the dev machines).
"${PIP[@]}" install --quiet "torch==$TORCH_VERSION"

# A constraint file pins torch for every install below (belt and braces with --no-deps).
CONSTRAINT="$(mktemp)"
trap 'rm -f "$CONSTRAINT"' EXIT
echo "torch==$TORCH_VERSION" >"$CONSTRAINT"

# Peers, without their dependency metadata: spikingjelly 2.x lists torchvision,
# torchaudio, tensorboard, ...; norse lists torchvision (which needs a matching torch).
# shellcheck disable=SC2086 # word splitting intended
"${PIP[@]}" install --quiet -c "$CONSTRAINT" --no-deps $PEERS
# What they actually import (found by trying the imports):
#   spikingjelly.activation_based: numpy, loguru, tqdm
#   snntorch: numpy (optional) ; norse.torch: numpy, nir, nirtorch, h5py (via nir)
# shellcheck disable=SC2086
"${PIP[@]}" install --quiet -c "$CONSTRAINT" --no-deps $NIR
"${PIP[@]}" install --quiet -c "$CONSTRAINT" numpy loguru tqdm h5py

# spikebit itself (editable, no deps: torch is already there).
"${PIP[@]}" install --quiet -c "$CONSTRAINT" --no-deps -e "$ROOT"
"${PIP[@]}" install --quiet -c "$CONSTRAINT" safetensors pyyaml

# Refuse to finish with a different torch than the pinned one.
"$VENV/bin/python" - <<EOF
import importlib.metadata as md
import torch
assert torch.__version__.split("+")[0] == "$TORCH_VERSION", torch.__version__
print("torch", torch.__version__)
for name in ("spikingjelly", "snntorch", "norse", "spikebit"):
    try:
        mod = __import__(name)
        print(name, md.version(name), "ok")
    except Exception as exc:  # noqa: BLE001 - report and go on
        print(name, "import FAILED:", type(exc).__name__, exc)
EOF

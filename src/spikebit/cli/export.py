"""``spikebit export CKPT --format FMT -o OUT``: write a trained checkpoint to another format.

Formats register a writer in :data:`FORMATS` (``@register_format("name")``); a writer
takes the loaded model, the output path and the parsed arguments and returns the
path it wrote. Output files are written atomically (no partial file on error).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from torch import nn

from spikebit.registry import Registry

Writer = Callable[[nn.Module, Path, argparse.Namespace], Path]
FORMATS: Registry[Writer] = Registry("export format")


def register_format(name: str) -> Callable[[Writer], Writer]:
    """Register ``writer(model, out, args) -> path`` as ``--format name``."""
    return FORMATS.register(name)


@register_format("nir")
def write_nir(model: nn.Module, out: Path, args: argparse.Namespace) -> Path:
    """Write ``model`` to the NIR file ``out`` (``args.dt``, ``args.approximate``)."""
    from spikebit.export.nir_io import to_nir

    to_nir(model, out, dt=args.dt, approximate=args.approximate or None)
    return out


@register_format("onnx")
def write_onnx(model: nn.Module, out: Path, args: argparse.Namespace) -> Path:
    """Write ``model`` to the ONNX file ``out`` (``args.no_spikes``, ``args.approximate``)."""
    from spikebit.export.onnx_io import to_onnx

    return to_onnx(model, out, spikes=not args.no_spikes, approximate=args.approximate or None)


@register_format("packed")
def write_packed(model: nn.Module, out: Path, args: argparse.Namespace) -> Path:
    """Write ``model`` to ``out`` as a packed ``.sbit`` file (``args.fp_dtype``: storage of
    full-precision layers) and print its size beside ``model_storage``. Raises
    :class:`~spikebit.errors.ExportError` (no file written) if it cannot run exactly."""
    from spikebit.deploy import export_packed
    from spikebit.metrics import model_storage

    report = export_packed(model, out, fp_dtype=args.fp_dtype)
    storage = model_storage(model).total_bits / 8
    print(f"{out}: {report.file_bytes / 1024:.1f} KiB, {report.layers} layers (model_storage "
          f"{storage / 1024:.1f} KiB; folded per-channel scales/biases "
          f"{report.folded_bytes / 1024:.1f} KiB)")
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand to the CLI's subparsers."""
    x = sub.add_parser("export", help="export a trained checkpoint (nir, onnx, packed)")
    x.add_argument("checkpoint", help="a .safetensors checkpoint or its run directory")
    x.add_argument("--format", required=True, help="output format: " + ", ".join(FORMATS.names()))
    x.add_argument("-o", "--output", required=True, help="output file")
    x.add_argument("--approximate", action="append", default=[], metavar="NAME",
                   help="allow a named approximation instead of refusing the layer "
                        "(soft-reset, multi-threshold, time-mixing, agmm, all); repeatable")
    x.add_argument("--dt", type=float, default=1e-4,
                   help="NIR: seconds per time step (tau = dt / (1 - leak)); default 1e-4")
    x.add_argument("--no-spikes", action="store_true",
                   help="ONNX: output the logits only (no per-layer spike outputs)")
    x.add_argument("--fp-dtype", choices=["float32", "float16"], default="float32",
                   help="packed: storage of full-precision layers (float32 is exact)")
    x.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """``spikebit export``: load ``args.checkpoint`` and write it in ``args.format``."""
    from spikebit.export.files import model_for_export

    writer = FORMATS.get(args.format)
    model = model_for_export(args.checkpoint)
    path = writer(model, Path(args.output), args)
    print(f"wrote {path} ({args.format})")
    return 0

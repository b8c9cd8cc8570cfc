"""``spikebit export CKPT --format FMT -o OUT``: one subcommand, formats register themselves.

A format is a function ``(model, output path, args) -> summary line`` added with
:func:`register_format`; format-specific options are added by its ``options`` hook.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from torch import nn

ExportFn = Callable[[nn.Module, Path, argparse.Namespace], str]
OptionsFn = Callable[[argparse.ArgumentParser], None]
FORMATS: dict[str, ExportFn] = {}
OPTIONS: list[OptionsFn] = []


def register_format(name: str, options: OptionsFn | None = None) -> Callable[[ExportFn], ExportFn]:
    """Register an export format under ``name`` (and its extra CLI options)."""

    def add(fn: ExportFn) -> ExportFn:
        FORMATS[name] = fn
        if options is not None:
            OPTIONS.append(options)
        return fn

    return add


def _packed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fp-dtype", choices=["float32", "float16"], default="float32",
                   help="packed: storage of full-precision layers (default float32, exact)")


@register_format("packed", _packed_options)
def export_packed_format(model: nn.Module, out: Path, args: argparse.Namespace) -> str:
    from spikebit.deploy import export_packed
    from spikebit.metrics import model_storage

    report = export_packed(model, out, fp_dtype=args.fp_dtype)
    storage = model_storage(model).total_bits / 8
    return (f"wrote {out}: {report.file_bytes / 1024:.1f} KiB ({report.layers} layers; "
            f"model_storage {storage / 1024:.1f} KiB + folded scales/biases "
            f"{report.folded_bytes / 1024:.1f} KiB)")


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint (packed .sbit, ...)")
    p.add_argument("checkpoint", help="a .safetensors checkpoint or its run directory")
    p.add_argument("--format", required=True, choices=sorted(FORMATS),
                   help="output format")
    p.add_argument("-o", "--output", required=True, help="output file")
    for options in OPTIONS:
        options(p)
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from spikebit.train import model_from_checkpoint

    model, _, _ = model_from_checkpoint(args.checkpoint)
    print(FORMATS[args.format](model.eval(), Path(args.output), args))
    return 0

"""The ``spikebit`` command: train, eval, info, models, data, reproduce, convert, export, run."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from spikebit.errors import SpikebitError


def cmd_train(args: argparse.Namespace) -> int:
    """``spikebit train CONFIG``: train from a YAML file or a shipped config name.

    Prints the run's summary (accuracy, storage, wall time, run files) at the end, from
    what the trainer holds (:func:`spikebit.cli.report.print_run_summary`).

    Args:
        args: the parsed ``train`` arguments (``config``, ``set``, ``resume``, ``device``).

    Returns:
        0 (errors propagate to :func:`main`).

    Raises:
        ConfigError: an unknown config name or file, an invalid config or override, or an
            unavailable device/precision.
        DataError: the dataset is missing or corrupt.
        TrainingError: training diverged.
        CheckpointError: ``--resume`` without a readable last checkpoint.
    """
    from spikebit.cli.report import print_run_summary
    from spikebit.train import fit_from_config, load_config
    from spikebit.train.shipped import resolve_config

    device = [f"device={args.device}"] if args.device else []
    config = load_config(resolve_config(args.config), args.set + device)
    start = time.perf_counter()
    trainer = fit_from_config(config, resume=args.resume)
    print_run_summary(trainer, time.perf_counter() - start)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """``spikebit eval CHECKPOINT``: test accuracy and loss of a checkpoint, as JSON.

    ``test_no_output`` and ``test_tied`` are the fractions of test samples whose readout
    has no single top class (all classes equal or some NaN, or the top shared); they count
    as wrong in ``test_acc`` (:func:`spikebit.metrics.readout.decide`).

    Args:
        args: the parsed ``eval`` arguments (``checkpoint``, ``data_dir``, ``device``).

    Returns:
        0 (errors propagate to :func:`main`).

    Raises:
        CheckpointError: the checkpoint is missing, corrupt or not a spikebit checkpoint.
        DataError: the checkpoint's test set is missing or corrupt.
    """
    from spikebit.train import model_from_checkpoint
    from spikebit.train.datasets import load_data
    from spikebit.train.losses import make_loss
    from spikebit.train.trainer import evaluate

    model, config, _ = model_from_checkpoint(args.checkpoint, device=args.device)
    if args.data_dir:
        config.data.data_dir = args.data_dir
    _, test = load_data(config.data)
    result = evaluate(model, test, make_loss(config.loss), config.optim.eval_batch_size)
    print(json.dumps({"checkpoint": str(args.checkpoint), "dataset": config.data.name,
                      "test_acc": result["acc"], "test_loss": result["loss"],
                      "test_no_output": result["no_output"], "test_tied": result["tied"]},
                     indent=2))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """``spikebit info CHECKPOINT``: architecture, storage, firing rates, SOPs and energy.

    Args:
        args: the parsed ``info`` arguments (``checkpoint``, ``json``, ``no_activity``,
            ``device``).

    Returns:
        0 (errors propagate to :func:`main`).

    Raises:
        CheckpointError: the checkpoint is missing, corrupt or not a spikebit checkpoint.
        DataError: the activity measurement needs a dataset that is missing (skip it with
            ``--no-activity``).
    """
    from spikebit.cli.report import info_report
    from spikebit.train.device import use_device

    with use_device(args.device):
        print(info_report(args.checkpoint, measure=not args.no_activity, as_json=args.json))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """``spikebit models``: print every zoo model's name and one-line summary.

    Args:
        args: the parsed ``models`` arguments (none are read).

    Returns:
        0.
    """
    from spikebit.models import MODEL_INFO, MODELS

    for name in MODELS.names():
        print(f"{name:28s} {MODEL_INFO.get(name, '')}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """``spikebit data list|fetch NAMES``: list datasets (cached or not) or download them.

    Args:
        args: the parsed ``data`` arguments (``action``, ``names``, ``data_dir``).

    Returns:
        0 (errors propagate to :func:`main`).

    Raises:
        DataError: ``fetch`` without names, an unknown dataset name (checked before
            anything is downloaded), or a download that fails or does not match its
            checksum.
    """
    from spikebit.data import cache_dir, dataset_names, fetch

    if args.action == "list":
        from spikebit.data.catalog import DATASETS
        from spikebit.data.events.fetch import EVENT_DATASETS

        root = cache_dir(args.data_dir)
        print(f"{'dataset':16s} {'kind':7s} {'cached':7s} summary   (cache: {root})")
        for name in dataset_names():
            folder = root / name
            cached = folder.is_dir() and any(folder.iterdir())
            print(f"{name:16s} {'static':7s} {'yes' if cached else 'no':7s} "
                  f"{DATASETS.get(name).summary}")
        from spikebit.data.events.fetch import event_cache_path

        for name in EVENT_DATASETS.names():  # the full simulated splits, not subsets
            cached = all(event_cache_path(name, args.data_dir, train, 0, None).is_file()
                         for train in (True, False))
            print(f"{name:16s} {'events':7s} {'yes' if cached else 'no':7s} "
                  f"{EVENT_DATASETS.get(name).summary}")
        return 0
    from spikebit.data.catalog import DATASETS
    from spikebit.data.events.fetch import EVENT_DATASETS, fetch_event_dataset
    from spikebit.errors import DataError, did_you_mean

    known = [*DATASETS.names(), *EVENT_DATASETS.names()]
    if not args.names:
        raise DataError(f"name the datasets to fetch, e.g. `spikebit data fetch fashion-mnist`; "
                        f"known: {', '.join(known)} (see `spikebit data list`).")
    for name in args.names:
        if name not in known:
            raise DataError(f"unknown dataset {name!r}.{did_you_mean(name, known)} "
                            f"Known: {', '.join(known)}.")
    for name in args.names:
        if name in EVENT_DATASETS:
            for train in (True, False):  # both splits, so `data list` shows it cached
                fetch_event_dataset(name, args.data_dir, train=train)
            path = cache_dir(args.data_dir) / "events"
        else:
            path = fetch(name, args.data_dir)
        print(f"{name}: {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``spikebit reproduce NAME``: run a paper's table at a budget (or ``--list`` them).

    Args:
        args: the parsed ``reproduce`` arguments (``name``, ``list``, ``budget``,
            ``seeds``, ``out_dir``, ``device``).

    Returns:
        0 (errors propagate to :func:`main`).

    Raises:
        RegistryError: an unknown experiment name.
        ConfigError: ``--seeds`` below 1 or an unavailable device.
    """
    from spikebit.reproduce import list_experiments, run_experiment

    if args.list or not args.name:
        for name, summary in list_experiments():
            print(f"{name:28s} {summary}")
        return 0
    from spikebit.train.device import resolve_device, use_device

    if args.device is not None:
        resolve_device(args.device)  # an unavailable device fails before any run is touched
    with use_device(args.device):
        path = run_experiment(args.name, budget=args.budget, out_dir=args.out_dir,
                              seeds=args.seeds)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """``spikebit convert CHECKPOINT``: ANN checkpoint to SNN (:func:`run_convert`).

    Args:
        args: the parsed ``convert`` arguments (``checkpoint``, ``method``, ``T``, ``K``,
            ``percentile``, ``calibration``, ... and ``device``).

    Returns:
        0 (errors propagate to :func:`main`).

    Raises:
        ConversionError: no checkpoint at the path, a spiking (not ReLU ANN) or
            event-frame model, a bad ``T``/``calibration``/method option, or an option
            the method does not use.
        CheckpointError: the checkpoint file is corrupt or not a spikebit checkpoint.
        ConfigError: an unavailable device.
    """
    from spikebit.cli.convert import run_convert
    from spikebit.train.device import use_device

    with use_device(args.device):
        return run_convert(args)


NO_VERIFY_HELP = "skip the SHA-256 check of checkpoint tensors (faster loading of large files)"


def _add_run_commands(sub: argparse._SubParsersAction, device: argparse.ArgumentParser) -> None:
    """``train``, ``eval`` and ``info``: a run and its checkpoints."""
    t = sub.add_parser("train", parents=[device], help="train from a YAML config")
    t.add_argument("config", help="a YAML config file or a shipped config name "
                   "(e.g. demo; see `spikebit configs list`)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=0.01 (repeatable)")
    t.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    t.add_argument("--no-verify", action="store_true", help=NO_VERIFY_HELP)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", parents=[device], help="evaluate a checkpoint on its test set")
    e.add_argument("checkpoint", help="a .safetensors checkpoint or a run directory")
    e.add_argument("--data-dir", default=None,
                   help="dataset cache directory (default $SPIKEBIT_DATA or ~/.cache/spikebit)")
    e.add_argument("--no-verify", action="store_true", help=NO_VERIFY_HELP)
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("info", parents=[device],
                       help="architecture, storage, firing rates, SOPs and energy")
    i.add_argument("checkpoint", help="a .safetensors checkpoint or a run directory")
    i.add_argument("--json", action="store_true", help="print JSON instead of text")
    i.add_argument("--no-activity", action="store_true",
                   help="skip the firing-rate/SOP measurement (needs the dataset)")
    i.add_argument("--no-verify", action="store_true", help=NO_VERIFY_HELP)
    i.set_defaults(func=cmd_info)


def _add_catalog_commands(sub: argparse._SubParsersAction,
                          device: argparse.ArgumentParser) -> None:
    """``models``, ``data`` and ``reproduce``: what spikebit ships."""
    m = sub.add_parser("models", help="list the model zoo")
    m.set_defaults(func=cmd_models)

    d = sub.add_parser("data", help="fetch or list datasets")
    d.add_argument("action", choices=["fetch", "list"],
                   help="list: every dataset and whether it is cached; fetch: download NAMES")
    d.add_argument("names", nargs="*", help="datasets to fetch, e.g. fashion-mnist nfmnist")
    d.add_argument("--data-dir", default=None, help="cache directory (default $SPIKEBIT_DATA)")
    d.set_defaults(func=cmd_data)

    r = sub.add_parser("reproduce", parents=[device], help="run a paper's table and write results")
    r.add_argument("name", nargs="?", help="experiment name (see --list)")
    r.add_argument("--list", action="store_true", help="list the experiments and exit")
    r.add_argument("--budget", choices=["smoke", "cpu", "full"], default="cpu",
                   help="smoke: seconds, a wiring check; cpu: minutes to hours on a laptop "
                   "CPU; full: the paper's setting (default: cpu)")
    r.add_argument("--seeds", type=int, default=1,
                   help="train every run with N seeds and report mean ± standard deviation "
                   "(default 1; finished runs are reused, so a stopped run resumes)")
    r.add_argument("--out-dir", default="results",
                   help="where the results JSON, Markdown table and figures go "
                   "(default: results)")
    r.set_defaults(func=cmd_reproduce)


def _add_convert_command(sub: argparse._SubParsersAction,
                         device: argparse.ArgumentParser) -> None:
    """``convert``: an ANN checkpoint to an SNN."""
    c = sub.add_parser(
        "convert", parents=[device], help="convert a trained ANN checkpoint to an SNN",
        description="Convert a trained ANN checkpoint to an SNN, simulate T steps on its test "
        "split and print the accuracy per T. The report is written next to the checkpoint as "
        "convert-METHOD[-K<K>][-p<percentile>][-<rule>][-spikes<n>][-presim<n>][-L<levels>]"
        "[-ep<epochs>].json: a part for each setting the method reads that differs from its "
        "default (-K<K> always for phase and bsnn; -<rule>: a --thresholds rule other than "
        "the method's own), so runs with different settings keep separate files; with the "
        "defaults the names are convert-METHOD-K<K>.json (phase, bsnn) and "
        "convert-METHOD.json. --T and --calibration are not part of the name.")
    c.add_argument("checkpoint", help="a trained ANN checkpoint (.safetensors or run dir)")
    c.add_argument("--method", choices=["rate", "phase", "bsnn", "ltb", "burst", "qcfs",
                                        "signed", "signed-burst", "srp", "cos"], default="bsnn",
                   help="rate: rate-coded IF neurons; phase: phase coding; bsnn: bistable IF "
                   "neurons with phase coding and synchronous neurons; ltb, burst, qcfs, "
                   "signed, signed-burst: few-step methods; srp, cos: error compensation "
                   "from a pre-simulation (docs/methods/bsnn.md; default: bsnn)")
    c.add_argument("--max-spikes", type=int, default=None,
                   help="burst, signed-burst: spikes per step (default 4)")
    c.add_argument("--presim", type=int, default=None,
                   help="srp, cos: pre-simulation steps per sample before the measured T "
                   "(default 4; latency presim + T)")
    c.add_argument("--thresholds", choices=["ltb", "percentile", "module"], default=None,
                   help="per-channel threshold rule (default per method; rate, phase and "
                   "bsnn normalize layer-wise unless it is given)")
    c.add_argument("--qcfs-levels", type=int, default=None,
                   help="qcfs: quantization steps L of the fine-tuned QCFS ANN (default 4)")
    c.add_argument("--qcfs-epochs", type=int, default=None,
                   help="qcfs: fine-tuning epochs of the QCFS ANN (default 2; 0: not "
                   "fine-tuned)")
    c.add_argument("--percentile", type=float, default=None,
                   help="rate, phase, bsnn, burst, signed-burst and --thresholds percentile: "
                   "activation percentile used as each layer's or channel's scale "
                   "(default 99.99)")
    c.add_argument("--K", type=int, default=None,
                   help="phase, bsnn: phase period (bits per period; default 8)")
    c.add_argument("--T", type=int, default=64,
                   help="time steps to simulate, 1..65536 (beyond 2^16 the float32 readout "
                   "resolves no more and its memory grows past a few GB; default 64)")
    c.add_argument("--calibration", type=int, default=2000,
                   help="training images for scaling, >= 1 (default 2000)")
    c.set_defaults(func=cmd_convert)


def build_parser() -> argparse.ArgumentParser:
    """The ``spikebit`` argument parser with every subcommand registered.

    Returns:
        The parser; each subcommand sets ``func``, the handler :func:`main` calls.
    """
    from spikebit import __version__
    from spikebit.cli import configs
    from spikebit.cli.export import add_parser as add_export
    from spikebit.cli.run import add_run_parser

    p = argparse.ArgumentParser(
        prog="spikebit",
        description="spikebit: ultra-low-latency, low-bit spiking neural networks. Train, "
        "evaluate, inspect, convert and reproduce the papers' tables from the command line.",
        epilog="Run `spikebit COMMAND --help` for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"spikebit {__version__}")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars or periodic progress lines (errors still print)")
    sub = p.add_subparsers(dest="command", required=True)
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", default=None, metavar="DEVICE",
                        help="auto, cpu, cuda, cuda:N or mps (train: overrides the config's "
                        "device; eval/info/convert: where the checkpoint is loaded, default cpu)")
    _add_run_commands(sub, device)
    _add_catalog_commands(sub, device)
    _add_convert_command(sub, device)
    configs.add_parser(sub)
    add_export(sub)
    add_run_parser(sub)
    for command in sub.choices.values():  # -q also after the command: `spikebit train X -q`
        command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                             help="no progress bars or periodic progress lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spikebit`` command.

    A :class:`~spikebit.errors.SpikebitError` prints as one line without a traceback.

    Args:
        argv: command-line arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: the handler's (0 on success), 2 on a ``SpikebitError``, 130 when
        interrupted, 0 when the output pipe closes early (``| head``).
    """
    args = build_parser().parse_args(argv)
    if getattr(args, "no_verify", False):  # checkpoint SHA-256 checks off (for speed)
        os.environ["SPIKEBIT_VERIFY_CHECKPOINTS"] = "0"
    if args.quiet:
        from spikebit.progress import set_quiet

        set_quiet(True)
    try:
        return int(args.func(args))
    except SpikebitError as exc:
        print(f"spikebit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last completed epoch's checkpoint is intact "
              "(continue with --resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""Human-readable summaries of runs and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikebit.metrics import measure_activity, model_storage
from spikebit.provenance import describe as describe_provenance

if TYPE_CHECKING:
    from spikebit.train.state import TrainerView


def print_run_summary(trainer: TrainerView, seconds: float) -> None:
    """Print the summary that ``spikebit train`` shows at the end of a run.

    Everything comes from ``trainer`` as training left it (nothing is read back from
    disk): the last and best test accuracy (from ``state.history``), the weight layers
    kept full precision and the weight storage (bits, KiB, ratio to fp32) of
    ``trainer.model``, the wall time and the run's files. Accuracies print in percent,
    layers numbered from 1 (as ALBSNN's selector and the papers number them).

    Args:
        trainer: the trainer after :meth:`~spikebit.train.trainer.Trainer.fit` (its
            ``model``, ``state.history`` with at least one epoch's ``test_acc``, a
            fraction in ``[0, 1]``, and ``run_dir``).
        seconds: wall time of the run, in seconds.
    """
    history = trainer.state.history
    best = max(history, key=lambda m: m["test_acc"])  # the first epoch with the best accuracy
    storage = model_storage(trainer.model)
    # numbered from 1, as the papers and ALBSNN's selector number layers
    fp_layers = [i + 1 for i, layer in enumerate(storage.layers) if not layer.quantized]
    run_dir = trainer.run_dir
    print(f"test accuracy (last epoch): {100 * history[-1]['test_acc']:.2f}%"
          f"{undecided_note(history[-1])}")
    print(f"test accuracy (best epoch {best['epoch']}): {100 * best['test_acc']:.2f}%"
          f"{undecided_note(best)}")
    print(f"weight layers kept full precision (numbered from 1): {fp_layers} of "
          f"{len(storage.layers)}")
    print(f"storage: {storage.total_bits:,} bits ({storage.total_bits / 8 / 1024:.1f} KiB), "
          f"{storage.ratio:.4f} of fp32 ({storage.total_fp32_bits:,} bits); quantized layers "
          f"at {storage.binarized_ratio:.4f} of their fp32 bits")
    print(f"wall time: {seconds:.0f} s")
    print(f"run files: {run_dir} (last.safetensors, best.safetensors, log.csv, metrics.json"
          f"{', curves.png' if (run_dir / 'curves.png').exists() else ''})")


def undecided_note(metrics: dict[str, Any], prefix: str = "test") -> str:
    """``" (1.50% no output, 0.25% tied)"``: the test samples counted wrong for lack of a
    single top class (:func:`spikebit.metrics.readout.decide`), or ``""`` if none (or not
    recorded, as in checkpoints written before these fractions were).

    Args:
        metrics: an epoch's record (``<prefix>_no_output``, ``<prefix>_tied`` in [0, 1]).
        prefix: ``"test"`` or ``"train"``.

    Returns:
        The note, with a leading space, in percent.
    """
    parts = [f"{100 * metrics[f'{prefix}_{key}']:.2f}% {what}"
             for key, what in (("no_output", "no output"), ("tied", "tied"))
             if metrics.get(f"{prefix}_{key}")]
    return f" ({', '.join(parts)})" if parts else ""


def activity_for_checkpoint(model, config, batches: int = 2) -> dict[str, Any]:
    """Firing rates, SOPs and energy on the first test batches of the run's dataset.

    Loads the test split named by ``config.data`` and runs
    :func:`~spikebit.metrics.measure_activity` on up to ``batches`` batches of at most 100
    samples each (event frames ``[B, T, C, H, W]`` are made time-major first),
    on the model's device.

    Args:
        model (nn.Module): the network rebuilt from the checkpoint.
        config (RunConfig): the run's configuration (its ``data`` section selects the
            dataset).
        batches: number of test batches of 100 samples to run.

    Returns:
        The dict of :meth:`ActivityReport.to_dict` for the measurement (firing rates
            per neuron layer, MACs and SOPs per sample, energy in µJ per sample).

    Raises:
        DataError: the dataset cannot be loaded (not fetched, unreadable files).
    """
    from spikebit.train.datasets import load_data
    from spikebit.train.device import model_device
    from spikebit.train.loader import model_input

    _, test = load_data(config.data)
    size = min(100, len(test))
    device = model_device(model)
    inputs = [model_input(test.images[i * size:(i + 1) * size]).to(device)
              for i in range(batches)]
    return measure_activity(model, [x for x in inputs if len(x)]).to_dict()


def method_reports(metrics: dict[str, Any]) -> dict[str, Any]:
    """The structured entries that callbacks added to an epoch's metrics.

    A callback's ``on_epoch_end`` may add a mapping or a list (``albsnn``,
    ``flip_ratio``, ``mfp_memory``, ...); ``spikebit info`` shows each of them under its
    key, so a new method's report needs no change here. Scalars (accuracies, losses,
    ``flip_ratio_mean``) are the log's columns and are left out.

    Args:
        metrics: an epoch's record (a checkpoint's ``metrics`` metadata).

    Returns:
        ``{key: value}`` for every mapping or list value, in the record's order.
    """
    return {k: v for k, v in metrics.items() if isinstance(v, dict | list)}


def info_report(path: str | Path, measure: bool = True, as_json: bool = False) -> str:
    """The text (or JSON) that ``spikebit info`` prints for a checkpoint.

    Lists the model, dataset, per-layer weight storage (quantizer, params, bits, ratio to
    fp32), the recorded metrics and, with ``measure``, firing rates, MACs, SOPs and energy
    (4.6 pJ/MAC, 0.9 pJ/SOP) on two test batches.

    Args:
        path: a ``.safetensors`` checkpoint written by ``spikebit train``.
        measure: also run the model on test data to measure activity (needs the dataset).
        as_json: return a JSON document instead of the text table.

    Returns:
        The report, as text lines or as indented JSON.

    Raises:
        CheckpointError: the checkpoint is missing or unreadable.
        ConfigError: the configuration recorded in the checkpoint is invalid.
        DataError: with ``measure``, the dataset cannot be loaded.
    """
    from spikebit.train.build import model_from_checkpoint

    model, config, ckpt = model_from_checkpoint(path)
    storage = model_storage(model).to_dict()
    info: dict[str, Any] = {
        "checkpoint": str(path),
        "model": config.model.name,
        "model_args": config.model.args,
        "dataset": config.data.name,
        "metrics": ckpt.meta.get("metrics", {}),
        "storage": storage,
        "provenance": ckpt.meta.get("provenance"),
    }
    reserved = {*info, "activity"}  # a report never hides a field of the report itself
    reports = {k: v for k, v in method_reports(info["metrics"]).items() if k not in reserved}
    info.update(reports)
    if measure:
        info["activity"] = activity_for_checkpoint(model, config)
    if as_json:
        return json.dumps(info, indent=2, default=str)
    return "\n".join(_info_lines(info, str(model), list(reports)))


def _info_lines(info: dict[str, Any], architecture: str, reports: list[str]) -> list[str]:
    """The text of :func:`info_report` from its JSON form ``info``."""
    storage = info["storage"]
    lines = [f"checkpoint: {info['checkpoint']}", f"model: {info['model']} {info['model_args']}",
             f"dataset: {info['dataset']}",
             f"trained with: {describe_provenance(info['provenance'])}", "",
             architecture, "",
             f"{'layer':40s} {'quantizer':15s} {'quant':>5s} {'params':>10s} {'bits':>12s} "
             f"{'ratio':>7s}"]
    for layer in storage["layers"]:
        lines.append(f"{layer['name']:40s} {layer['quantizer']:15s} {str(layer['quantized']):>5s} "
                     f"{layer['params']:>10,} {layer['bits']:>12,} "
                     f"{layer['bits'] / layer['fp32_bits']:>7.4f}")
    lines.append(f"total bits {storage['total_bits']:,} = {storage['ratio_to_fp32']:.4f} of fp32 "
                 f"({storage['total_fp32_bits']:,}); BN/other fp32 bits {storage['other_bits']:,}")
    m = info["metrics"]
    if m:
        lines.append(f"epoch {m.get('epoch')}: test acc {m.get('test_acc', float('nan')):.4f}"
                     f"{undecided_note(m)}")
    if "activity" in info:
        a = info["activity"]
        lines.append("")
        lines.append("firing rates (mean output per neuron per step):")
        for name, rate in a["firing_rates"].items():
            lines.append(f"  {name:38s} {rate:.4f}")
        lines.append(f"per sample: MACs {a['macs']:,.0f}  SOPs {a['sops']:,.0f}  "
                     f"energy {a['energy_uJ']:.4f} uJ (4.6 pJ/MAC, 0.9 pJ/SOP, T={a['steps']})")
    for key in reports:
        lines.append(f"{key}: {json.dumps(info[key], default=str)}")
    return lines

"""How much the literal BWO rule changes a trained ALBSNN (``albsnn-bwo-bound``).

Our configs cap BWO at ``max_fraction = 0.001`` of a layer's weights per application
(``docs/methods/albsnn.md``). This experiment measures why: it takes the trained
ALBSNN of Table 5 (its run under ``runs/reproduce/albsnn-table5``, reused when
``albsnn-table5`` already ran at the same budget), computes the training loss gradient
on successive training batches and applies BWO ``times`` times in a row with each bound
setting, without fine-tuning in between.
Per setting it reports the share of binarized weight elements adjusted (union over
the applications) and the test accuracy afterwards.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikebit.methods.albsnn.bwo import BWOSettings, bwo_layers, bwo_update
from spikebit.methods.albsnn.recipes import BWO_MAX_FRACTION, get_budget, variant_run
from spikebit.reproduce import register_experiment

# setting label -> BWO settings (all with the paper's tolerance 100 and descent_only)
PROBE_SETTINGS = {
    "literal, bound |g|": BWOSettings(bound="grad"),
    "literal, bound |lr g|": BWOSettings(bound="update"),
    f"capped {BWO_MAX_FRACTION:g}, bound |g|": BWOSettings(bound="grad",
                                                           max_fraction=BWO_MAX_FRACTION),
}
PROBE_LR = 1e-3  # the paper's learning rate (ours at the start of the cosine schedule)


def _gradients(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss_fn) -> None:
    from spikebit.train.loader import model_input

    model.zero_grad(set_to_none=True)
    loss_fn(model(model_input(images)), labels).backward()


def probe(model: nn.Module, train, test, loss_fn, settings: BWOSettings, times: int,
          batch_size: int, lr: float = PROBE_LR) -> dict[str, Any]:
    """Apply BWO ``times`` times (fresh batch gradients each time) to a copy of ``model``.

    Args:
        model: a trained model with k-base (``"abc"``) binarized layers (not modified).
        train (ArrayDataset): training split (``images``, ``labels``); batch ``i`` gives
            the ``i``-th gradient.
        test (ArrayDataset): test split for the accuracy afterwards.
        loss_fn (Callable): ``loss_fn(outputs [T, B, K], labels [B])`` -> scalar loss.
        settings: the BWO decision rule.
        times: number of BWO applications in a row (no fine-tuning in between).
        batch_size: samples per gradient batch.
        lr: learning rate of the adjustment ``d = lr * g``.

    Returns:
        ``adjusted_share`` (binarized elements adjusted at least once / all
            binarized elements) and ``acc`` (test accuracy afterwards, %).

    Raises:
        ConfigError: a binarized layer's quantizer is not k-base.
    """
    from spikebit.train.trainer import evaluate

    model = copy.deepcopy(model).train()
    for module in model.modules():  # batch statistics for the gradient, running stats kept
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0
    layers = bwo_layers(model)
    touched = {name: torch.zeros_like(layer.weight, dtype=torch.bool) for name, layer in layers}
    for i in range(times):
        start = i * batch_size
        _gradients(model, train.images[start:start + batch_size],
                   train.labels[start:start + batch_size], loss_fn)
        with torch.no_grad():
            for name, layer in layers:
                bases, alpha = layer.quantizer.decompose(layer.weight)  # type: ignore[operator]
                step = bwo_update(layer.weight, layer.weight.grad, bases, alpha, lr, settings)
                layer.weight.copy_(step.weight)
                touched[name] |= step.removed.any(0)
    total = sum(t.numel() for t in touched.values())
    share = sum(int(t.sum()) for t in touched.values()) / max(1, total)
    return {"adjusted_share": share, "acc": 100.0 * evaluate(model, test, loss_fn)["acc"]}


@register_experiment(
    "albsnn-bwo-bound",
    "BWO's literal bound vs our 0.1% cap on the trained Table 5 ALBSNN (Fashion-MNIST, T=1)",
)
def bwo_bound(budget: str, work_dir: Path) -> dict[str, Any]:
    """Experiment ``albsnn-bwo-bound``: literal BWO bounds vs the capped one (module doc).

    Args:
        budget: the reproduction budget name (``"smoke"``, ``"cpu"``, ``"full"``).
        work_dir: this experiment's run folder; the ``albsnn-table5`` run beside it is
            reused (or trained).

    Returns:
        ``{"rows": [...], "columns": [...], "note": str}`` (shares in ``[0, 1]``,
            accuracies in %).
    """
    from spikebit.methods.albsnn.experiments import measure_run
    from spikebit.train.build import model_from_checkpoint
    from spikebit.train.datasets import load_data
    from spikebit.train.losses import make_loss

    # the ALBSNN run of albsnn-table5, trained here only if that experiment has not run
    outcome = measure_run(variant_run("albsnn", budget), work_dir.parent / "albsnn-table5")
    assert outcome.run_dir is not None
    model, config, _ = model_from_checkpoint(outcome.run_dir / "last.safetensors")
    train, test = load_data(config.data)
    loss_fn = make_loss(config.loss)
    batch = get_budget(budget).batch_size
    torch.manual_seed(0)
    train = train.subset(torch.randperm(len(train))[:batch * 5])
    rows: list[dict[str, Any]] = [{"setting": "trained ALBSNN, no BWO", "times": 0,
                                   "adjusted_share": 0.0, "acc": outcome.row()["acc"]}]
    for label, settings in PROBE_SETTINGS.items():
        for times in (1, 5):
            rows.append({"setting": label, "times": times,
                         **probe(model, train, test, loss_fn, settings, times, batch)})
    return {"rows": rows, "columns": ["setting", "times", "adjusted_share", "acc"],
            "note": (f"Model: the Table 5 ALBSNN at budget {budget!r} (fp layers "
                     f"{outcome.fp_layers}). BWO applied `times` times in a row, each with "
                     f"the MSE gradient of a fresh training batch of {batch}, lr {PROBE_LR}, "
                     "tolerance 100, descent_only, no fine-tuning. adjusted_share = binarized "
                     "weight elements that lost a base at least once / all binarized "
                     "elements; acc = test accuracy (%) afterwards.")}

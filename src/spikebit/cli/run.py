"""``spikebit run model.sbit``: the packed engine on a dataset or on a ``.npy`` input."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand to the CLI's subparsers ``sub``."""
    p = sub.add_parser("run", help="run a packed .sbit model (bitwise engine)")
    p.add_argument("model", help="a .sbit file written by 'spikebit export --format packed'")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset name: accuracy, latency, throughput on its test set")
    src.add_argument("--input", help="a .npy file [B, *in_shape] (or [T, B, ...]): predictions")
    p.add_argument("--data-dir", default=None, help="dataset cache directory")
    p.add_argument("--limit", type=int, default=None, help="first N test samples only")
    p.add_argument("--batch-size", type=int, default=64, help="images per engine call")
    p.add_argument("--threads", type=int, default=1, help="threads of the bitwise kernels")
    p.add_argument("-o", "--output", default=None, help="--input: write predictions to .npy")
    p.set_defaults(func=run_packed)


def _evaluate(model, images: np.ndarray, labels: np.ndarray, batch: int) -> dict[str, float]:
    """Accuracy (a sample without a single top class counts as wrong and is reported as
    ``no_output`` / ``tied``: :func:`spikebit.metrics.readout.decide`), latency, throughput."""
    import torch

    from spikebit.metrics.readout import count_decisions, decision_fractions

    model.predict(images[:1])  # compile the kernels before timing
    counts = torch.zeros(3, dtype=torch.long, device="cpu")  # the engine's outputs: numpy
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        scores = torch.from_numpy(model.run(images[i:i + batch]).outputs.mean(0))
        counts += count_decisions(scores, torch.from_numpy(labels[i:i + batch]))
    seconds = time.perf_counter() - start
    single = []
    for i in range(min(50, len(images))):
        t0 = time.perf_counter()
        model.predict(images[i:i + 1])
        single.append(time.perf_counter() - t0)
    fractions = decision_fractions(counts, len(images))
    return {"samples": len(images), "accuracy": fractions["acc"],
            "no_output": fractions["no_output"], "tied": fractions["tied"], "batch_size": batch,
            "throughput_per_s": len(images) / seconds,
            "latency_ms_per_sample_batched": 1e3 * seconds / len(images),
            "latency_ms_batch1_median": 1e3 * float(np.median(single))}


def run_packed(args: argparse.Namespace) -> int:
    """``spikebit run``: load ``args.model`` and print JSON: predictions for ``--input``
    (with the indices of the samples whose output has no single top class under
    ``no_output`` and ``tied``), or accuracy, batched and batch-1 latency (ms per sample)
    and throughput (samples/s) on the test split of ``--data``. Returns the exit status
    (0)."""
    from spikebit.deploy import load_packed
    from spikebit.deploy.kernels import set_threads

    set_threads(args.threads)
    model = load_packed(args.model)
    if args.input:
        import torch

        from spikebit.metrics.readout import decide

        x = np.load(args.input, allow_pickle=False)
        # samples without a single top class keep their argmax in "predictions" (the first
        # maximal class, as PackedOutput.predictions) and are listed, so that none passes
        # for a real prediction
        d = decide(torch.from_numpy(model.run(x).outputs.mean(0)))
        preds = d.prediction.numpy()
        if args.output:
            np.save(args.output, preds)
        print(json.dumps({"predictions": preds.tolist(),
                          "no_output": torch.nonzero(d.no_output).flatten().tolist(),
                          "tied": torch.nonzero(d.tied).flatten().tolist()}))
        return 0
    from spikebit.data import load_dataset

    test = load_dataset(args.data, train=False, data_dir=args.data_dir)
    n = len(test) if args.limit is None else min(args.limit, len(test))
    images, labels = test.images[:n].numpy(), test.labels[:n].numpy()
    result = {"model": str(args.model), "dataset": args.data, "threads": args.threads}
    result.update(_evaluate(model, images, labels, args.batch_size))
    print(json.dumps(result, indent=2))
    return 0

"""Activity metrics are per-sample sums: independent of batch size and of process count.

Issue 18.1: an FC SNN 20-32-16-4 at T=3 on 4 samples gave different SOPs per sample and
firing rates for one batch of 4 and batches of 3 + 1 (per-batch means averaged with equal
weight). The reference here is counted by hand: spikes of each layer x fan-out.
"""

import json
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from spikebit.metrics import measure_activity
from spikebit.models.network import ModelConfig, build_network
from spikebit.train.losses import LOSSES
from spikebit.train.trainer import evaluate


def fc_snn() -> torch.nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(spec="32-16-4", in_shape=(20,), num_classes=4, steps=3,
                         batchnorm=False, neuron_kwargs={"threshold": 0.2, "tau": 0.5})
    return build_network(config).eval()


def samples(n: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 20, generator=g) * 2


@torch.no_grad()
def hand_count(net, x: torch.Tensor) -> dict:
    """Walk the body layer by layer: spikes per neuron layer and spikes x fan-out."""
    fc1, lif1, fc2, lif2, fc3 = (m.module if hasattr(m, "module") else m for m in net.body)
    T, N = 3, x.shape[0]
    s1 = lif1(fc1(x.expand(T, N, 20)))
    s2 = lif2(fc2(s1))
    return {
        "rates": [float(s1.sum()) / (T * N * 32), float(s2.sum()) / (T * N * 16)],
        "sops": (float(s1.sum()) * 16 + float(s2.sum()) * 4) / N,  # fan-out of each spike
        "macs": T * 20 * 32,  # the encoding layer sees real-valued input every step
    }


def check(report, ref) -> None:
    assert report.steps == 3
    assert list(report.firing_rates.values()) == pytest.approx(ref["rates"], rel=1e-12)
    assert report.sops == pytest.approx(ref["sops"], rel=1e-12)
    assert report.macs == ref["macs"]


@pytest.mark.parametrize("batch", [1, 3, 4, 7])
def test_activity_is_per_sample_for_any_batch_split(batch):
    net, x = fc_snn(), samples(7)
    ref = hand_count(net, x)
    assert 0.05 < min(ref["rates"]) and max(ref["rates"]) < 0.95  # spikes in both layers
    report = measure_activity(net, list(x.split(batch)))
    check(report, ref)


def test_issue_case_four_samples_one_batch_equals_three_plus_one():
    net, x = fc_snn(), samples(4)
    one = measure_activity(net, [x])
    split = measure_activity(net, [x[:3], x[3:]])
    check(one, hand_count(net, x))
    check(split, hand_count(net, x))


class FlatSet:
    """What ``evaluate`` reads of a dataset (ArrayDataset takes images only)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)


def test_evaluate_weights_accuracy_and_loss_by_samples():
    net, x = fc_snn(), samples(7)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    data = FlatSet(x, labels)
    out = net(x).detach().mean(0)
    want_acc = float((out.argmax(-1) == labels).float().mean())
    want_loss = float(torch.nn.functional.cross_entropy(out, labels))
    for batch in (1, 3, 4, 7):
        got = evaluate(net, data, LOSSES.get("ce"), batch)
        assert got["acc"] == pytest.approx(want_acc)
        assert got["loss"] == pytest.approx(want_loss, rel=1e-6)


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as tdist
    sys.path.insert(0, sys.argv[2])
    from test_activity_per_sample import fc_snn, samples
    from spikebit.metrics import measure_activity
    from spikebit.train.distributed import init_from_env

    dist = init_from_env()
    x = samples(7)
    shard = x[:5] if dist.rank == 0 else x[5:]   # uneven shards: 5 and 2 samples
    report = measure_activity(fc_snn(), list(shard.split(2)), dist=dist)
    if dist.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(report.to_dict(), f)
    tdist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_ranks_give_the_one_process_report(tmp_path):
    script = tmp_path / "measure.py"
    script.write_text(SCRIPT)
    out = tmp_path / "report.json"
    here = str(__import__("pathlib").Path(__file__).parent)
    src = str(__import__("pathlib").Path(__file__).parents[2] / "src")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script),
           str(out), here]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                               "PYTHONPATH": src})
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(out.read_text())
    net, x = fc_snn(), samples(7)
    one = measure_activity(net, [x]).to_dict()
    ref = hand_count(net, x)
    assert two["steps"] == one["steps"] == 3
    assert list(two["firing_rates"].values()) == pytest.approx(ref["rates"], rel=1e-12)
    assert two["sops"] == pytest.approx(ref["sops"], rel=1e-12)
    assert two["macs"] == one["macs"] == ref["macs"]

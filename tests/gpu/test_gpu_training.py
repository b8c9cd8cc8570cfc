"""Training on CUDA: CPU agreement, every method's model in fp32/bf16, checkpoints, kernels.

Skipped without CUDA (see conftest.py). Tolerances are stated where CPU and GPU are
compared: their float rounding differs, and a spike flips where a potential sits within
rounding of the threshold, so the runs drift apart slowly instead of matching bit for bit.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikebit.models import MODELS
from spikebit.train import (
    Callback,
    config_from_dict,
    load_checkpoint,
    model_from_checkpoint,
    train_from_config,
)
from spikebit.train.losses import LOSSES
from spikebit.train.run import prepare
from spikebit.train.trainer import Trainer, evaluate

# One epoch of the small config: CPU and CUDA agree within these (accuracy in [0, 1]).
ACC_TOL = 0.03
LOSS_RTOL = 0.05


def _config(tmp_path, data, name, device, **extra):
    return {
        "name": name, "seed": 0, "out_dir": str(tmp_path / "runs"), "plots": False,
        "loss": "mse", "device": device,
        "model": {"name": "albsnn-mnist", "args": {"spec": "8C3-AP2-16C3-AP2-32C3-GAP",
                                                   "steps": 2, "full_precision": [0]}},
        "data": data,
        "optim": {"epochs": 1, "batch_size": 64, "lr": 0.002},
        **extra,
    }


def test_one_epoch_on_cuda_matches_cpu(tmp_path, small_data, deterministic):
    cpu, cpu_dir = train_from_config(config_from_dict(_config(tmp_path, small_data, "cpu",
                                                              "cpu")))
    gpu, gpu_dir = train_from_config(config_from_dict(_config(tmp_path, small_data, "gpu",
                                                              "cuda")))
    assert load_checkpoint(gpu_dir / "last.safetensors").meta["device"]["trained_on"] == "cuda:0"
    assert abs(gpu["test_acc"] - cpu["test_acc"]) <= ACC_TOL
    assert gpu["train_loss"] == pytest.approx(cpu["train_loss"], rel=LOSS_RTOL)


def test_dataloader_workers_on_cuda_equal_in_memory(tmp_path, deterministic):
    base = _config(tmp_path, {"name": "toy"}, "mem", "cuda")
    mem, _ = train_from_config(config_from_dict(base))
    pinned, _ = train_from_config(config_from_dict(
        dict(base, name="workers", data={"name": "toy", "workers": 2})))
    assert pinned["train_loss"] == mem["train_loss"] and pinned["test_acc"] == mem["test_acc"]


# (zoo name, factory args, input shape, loss) per method
MODELS_UNDER_TEST = {
    "abc": ("albsnn-mnist", {"spec": "8C3-AP2-16C3-GAP", "steps": 1, "full_precision": []},
            (1, 28, 28), "mse"),
    "sign+agmm": ("agmm-resnet19", {"steps": 2, "width": 0.125, "stem_stride": 2,
                                    "quantizer": "sign", "agmm": True}, (1, 28, 28), "ce"),
    "qsnn+mfp": ("mfp-vggsnn-fmnist", {"width": 0.125}, (1, 28, 28), "ce"),
    "multi-threshold": ("mt-fmnist-cnn", {"steps": 2}, (1, 28, 28), "mse"),
}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("method", list(MODELS_UNDER_TEST))
def test_method_models_train_on_cuda(method, precision):
    from spikebit.train.device import autocast

    name, args, shape, loss_name = MODELS_UNDER_TEST[method]
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = MODELS.get(name)(in_shape=shape, num_classes=10, **args).to(device)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = LOSSES.get(loss_name)
    x = torch.rand(8, *shape, device=device)
    y = torch.randint(0, 10, (8,), device=device)
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        with autocast(device, precision):
            loss = loss_fn(model(x), y)
        assert math.isfinite(float(loss.detach())), (method, precision)
        loss.backward()
        opt.step()
    params = list(model.parameters())
    assert all(p.dtype == torch.float32 and p.device.type == "cuda" for p in params)
    assert any(not torch.equal(p, b) for p, b in zip(params, before))


class _KillAt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_start(self, trainer, step):
        if step == self.at:
            raise KeyboardInterrupt


def test_cuda_checkpoint_resumes_exactly_and_loads_on_cpu(tmp_path, deterministic):
    cfg = _config(tmp_path, {"name": "toy"}, "whole", "cuda",
                  callbacks=[{"name": "albsnn-selector", "args": {"rule": "top-k", "k": 1}}])
    cfg["optim"]["epochs"] = 3
    whole, whole_dir = train_from_config(config_from_dict(cfg))
    config = config_from_dict(dict(cfg, name="cut"))
    model, train, test, transform = prepare(config)
    from spikebit.train.build import build_callbacks

    with pytest.raises(KeyboardInterrupt):  # in epoch 3 (toy: 4 steps per epoch)
        Trainer(config, model, train, test, [*build_callbacks(config), _KillAt(10)],
                transform).fit()
    resumed, _ = train_from_config(config, resume=True)
    for key in ("train_loss", "train_acc", "test_acc", "test_loss"):
        assert resumed[key] == whole[key], key
    cpu_model, _, _ = model_from_checkpoint(whole_dir / "last.safetensors")
    assert {p.device.type for p in cpu_model.parameters()} == {"cpu"}
    test = prepare(config)[2]
    on_cpu = evaluate(cpu_model, test, LOSSES.get("mse"))
    assert abs(on_cpu["acc"] - whole["test_acc"]) <= ACC_TOL


@pytest.mark.parametrize("T", [8])
def test_compiled_lif_on_cuda_matches_eager(T):
    from spikebit.functional.firing import BinaryFiring
    from spikebit.functional.lif import lif_sequence

    g = torch.Generator(device="cuda").manual_seed(T)
    x = torch.randn(T, 32, 64, device="cuda", generator=g) * 1.5 + 0.5
    grad = torch.randn(T, 32, 64, device="cuda", generator=g)
    out = {}
    for backend in ("eager", "compiled"):
        xi = x.clone().requires_grad_()
        s = lif_sequence(xi, BinaryFiring(1.0), tau=0.5, backend=backend)
        s.backward(grad)
        out[backend] = (s.detach(), xi.grad)
    assert torch.equal(out["eager"][0], out["compiled"][0])
    torch.testing.assert_close(out["compiled"][1], out["eager"][1], rtol=1e-5, atol=1e-6)


def test_bf16_lif_state_is_fp32_on_cuda():
    from spikebit.functional.firing import BinaryFiring
    from spikebit.functional.lif import lif_sequence

    x = torch.randn(8, 4, 16, device="cuda").to(torch.bfloat16)
    s = lif_sequence(x, BinaryFiring(1.0))
    assert s.dtype == torch.bfloat16
    assert torch.equal(s.float(), lif_sequence(x.float(), BinaryFiring(1.0)))

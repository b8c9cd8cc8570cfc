"""Device resolution, precision checks and their errors (train/device.py), on the CPU."""

import copy

import pytest
import torch
from torch import nn

from spikebit.errors import CheckpointError, ConfigError
from spikebit.functional.firing import BinaryFiring
from spikebit.functional.lif import lif_sequence
from spikebit.train import Callback, config_from_dict, model_from_checkpoint, train_from_config
from spikebit.train import device as dev
from spikebit.train.checkpoint import load_checkpoint, save_checkpoint
from spikebit.train.trainer import Trainer


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(dev, "cuda_count", lambda: 0)
    monkeypatch.setattr(dev, "mps_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(dev, "cuda_count", lambda: 2)


def test_auto_is_cpu_without_cuda(no_cuda):
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_device(None) == torch.device("cpu")
    assert dev.resolve_device(" CPU ") == torch.device("cpu")


def test_auto_and_cuda_pick_local_rank(two_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dev.resolve_device("auto") == torch.device("cuda", 1)
    assert dev.resolve_device("cuda") == torch.device("cuda", 1)
    assert dev.resolve_device("cuda:0") == torch.device("cuda", 0)
    monkeypatch.delenv("LOCAL_RANK")
    assert dev.resolve_device("auto") == torch.device("cuda", 0)


@pytest.mark.parametrize("spec", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_config_error(no_cuda, spec):
    with pytest.raises(ConfigError, match="CUDA is not available.*--device cpu"):
        dev.resolve_device(spec)


def test_cuda_index_beyond_devices(two_gpus):
    with pytest.raises(ConfigError, match="has 2 CUDA device"):
        dev.resolve_device("cuda:2")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cpu:0", "cuda0", "tpu", ""])
def test_unknown_device_strings(no_cuda, spec):
    if spec == "":  # empty means auto
        assert dev.resolve_device(spec) == torch.device("cpu")
        return
    with pytest.raises(ConfigError, match="device"):
        dev.resolve_device(spec)


def test_mps_absent(no_cuda):
    with pytest.raises(ConfigError, match="MPS"):
        dev.resolve_device("mps")


def test_checkpoint_device_errors_are_checkpoint_errors(no_cuda):
    assert dev.checkpoint_device(None) == torch.device("cpu")
    with pytest.raises(CheckpointError, match="--device cpu"):
        dev.checkpoint_device("cuda:1")


def test_unknown_precision():
    with pytest.raises(ConfigError, match="precision"):
        dev.check_precision("fp8", torch.device("cpu"))
    with pytest.raises(ConfigError, match="precision"):
        config_from_dict({"precision": "half"})


def test_use_device_override():
    assert dev.requested_device("cpu") == "cpu"
    with dev.use_device("cuda:3"):
        assert dev.requested_device("cpu") == "cuda:3"
    with dev.use_device(None):
        assert dev.requested_device("auto") == "auto"


class _NoHalfKernel(nn.Module):
    """A linear layer whose 'kernel' does not exist for float16 (as some CPU ops)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        x = self.bn(x.flatten(1))
        y = self.fc(x)
        if y.dtype == torch.float16:
            raise RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'')
        return y


def _mse(out, labels):
    return nn.functional.mse_loss(out.float(), nn.functional.one_hot(labels, 2).float())


def test_probe_names_the_missing_kernel_and_leaves_the_model_alone():
    model = _NoHalfKernel()
    before = copy.deepcopy(model.state_dict())
    x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    dev.probe_precision(model, x, _mse, y, torch.device("cpu"), "bf16")  # runs
    with pytest.raises(ConfigError, match="fp16.*not implemented for 'Half'.*fp32"):
        dev.probe_precision(model, x, _mse, y, torch.device("cpu"), "fp16")
    for k, v in model.state_dict().items():  # BN statistics untouched by the probes
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def _seed_run(config, tmp_path):
    """A finished 1-epoch run in out_dir/name, returning its checkpoint bytes."""
    cfg = dict(config, optim={**config["optim"], "epochs": 1})
    train_from_config(config_from_dict(cfg))
    last = tmp_path / "runs" / "toy" / "last.safetensors"
    return last, last.read_bytes()


def test_bad_device_or_precision_touch_nothing_saved(toy_config, tmp_path, no_cuda, monkeypatch):
    last, saved = _seed_run(toy_config, tmp_path)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        train_from_config(config_from_dict(dict(toy_config, device="cuda")))
    with pytest.raises(ConfigError, match="unknown device"):
        train_from_config(config_from_dict(dict(toy_config, device="gpu0")))

    def no_half(model, *args, **kwargs):  # as if an op of the model had no fp16 kernel
        raise ConfigError("precision 'fp16' does not run on cpu: ... not implemented for 'Half'")

    monkeypatch.setattr("spikebit.train.trainer.preflight", no_half)
    with pytest.raises(ConfigError, match="fp16"):
        train_from_config(config_from_dict(dict(toy_config, precision="fp16")))
    assert last.read_bytes() == saved  # not overwritten, not moved aside
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["toy"]


def test_gpu_trained_checkpoint_loads_on_cpu(toy_config, tmp_path, no_cuda):
    last, _ = _seed_run(toy_config, tmp_path)
    ckpt = load_checkpoint(last)  # pretend CUDA trained it: the config says so
    ckpt.meta["config"]["device"] = "cuda:1"
    ckpt.meta["device"]["trained_on"] = "cuda:1"
    save_checkpoint(last, ckpt)
    model, config, _ = model_from_checkpoint(last)
    assert config.device == "cuda:1"
    assert {p.device for p in model.parameters()} == {torch.device("cpu")}
    with pytest.raises(CheckpointError, match="CUDA is not available"):
        model_from_checkpoint(last, device="cuda")


def test_lif_kernel_under_half_precision_state_in_fp32():
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(6, 3, 5, generator=g) * 1.5).to(torch.bfloat16).requires_grad_()
    ref = x.detach().float().requires_grad_()
    firing = BinaryFiring(1.0)
    s = lif_sequence(x, firing, tau=0.9)
    s_ref = lif_sequence(ref, firing, tau=0.9)
    assert s.dtype == torch.bfloat16
    assert torch.equal(s.float(), s_ref)  # same spikes as float32 on the same inputs
    grad = torch.randn(6, 3, 5, generator=g)
    s.backward(grad.to(torch.bfloat16))
    s_ref.backward(grad.to(torch.bfloat16).float())
    assert x.grad.dtype == torch.bfloat16
    assert torch.equal(x.grad, ref.grad.to(torch.bfloat16))


def test_lif_kernel_under_autocast():
    x = torch.randn(4, 2, 8)
    w = torch.randn(8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = lif_sequence(x @ w, BinaryFiring(0.5))
    assert s.dtype == torch.bfloat16
    s.float().sum().backward()
    assert w.grad is not None and w.grad.dtype == torch.float32


def _grads(model, x, y, precision):
    model.zero_grad()
    with dev.autocast(torch.device("cpu"), precision):
        loss = nn.functional.cross_entropy(model(x).mean(0), y)
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_bf16_gradient_follows_fp32():
    from spikebit.models import MODELS

    torch.manual_seed(0)
    model = MODELS.get("albsnn-mnist")(spec="8C3-AP2-16C3-GAP", steps=2, in_shape=(1, 12, 12),
                                       num_classes=4, full_precision=[0])
    x, y = torch.rand(16, 1, 12, 12), torch.randint(0, 4, (16,))
    g32, g16 = _grads(model, x, y, "fp32"), _grads(model, x, y, "bf16")
    cos = torch.nn.functional.cosine_similarity(g32, g16, dim=0)
    assert cos > 0.9, float(cos)  # bf16 keeps 8 mantissa bits: same descent direction


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_training_on_cpu(toy_config, tmp_path, precision):
    cfg = config_from_dict(dict(toy_config, precision=precision, device="cpu",
                                optim={**toy_config["optim"], "epochs": 3}))
    metrics, run_dir = train_from_config(cfg)
    assert metrics["test_acc"] >= 0.95  # separable toy task: fp32 gets 1.0 after 3 epochs
    ckpt = load_checkpoint(run_dir / "last.safetensors")
    assert ckpt.meta["device"]["precision"] == precision
    assert all(t.dtype == torch.float32 for k, t in ckpt.tensors.items()
               if k.startswith("model.") and t.is_floating_point())
    assert bool(ckpt.meta["device"]["scaler"]) == (precision == "fp16")


class _KillAt(Callback):
    def __init__(self, at):
        self.at = at

    def on_step_start(self, trainer, step):
        if step == self.at:
            raise KeyboardInterrupt


def test_fp16_resume_is_exact(toy_config):
    """fp16 with its gradient scaler: the scaler state travels in the checkpoint."""
    from spikebit.train.run import prepare

    cfg = dict(toy_config, precision="fp16", device="cpu")
    whole, _ = train_from_config(config_from_dict(dict(cfg, name="whole")))
    config = config_from_dict(dict(cfg, name="cut"))
    model, train, test, transform = prepare(config)
    trainer = Trainer(config, model, train, test, [_KillAt(12)], transform)
    with pytest.raises(KeyboardInterrupt):  # in epoch 2 (8 steps per epoch)
        trainer.fit()
    resumed, _ = train_from_config(config, resume=True)
    for key in ("train_loss", "train_acc", "test_acc", "test_loss"):
        assert resumed[key] == whole[key], key


def test_quantizers_keep_float32_statistics_under_autocast():
    from spikebit.quant.quantizers import QUANTIZERS

    torch.manual_seed(0)
    w = torch.randn(32, 16, 3, 3) * 0.05
    model = nn.ModuleList([QUANTIZERS.get("abc")(), QUANTIZERS.get("fp")()])
    exact = model[0](w)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        drifted = model[0](w)  # ABC's least squares in bfloat16
    assert not torch.equal(drifted, exact)
    assert dev.fp32_quantizers(model) == 2 and dev.fp32_quantizers(model) == 0  # idempotent
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hooked = model[0](w)
        assert torch.is_autocast_enabled("cpu")  # restored after the quantizer
        y = nn.functional.linear(torch.ones(2, 9), torch.ones(3, 9))
    assert torch.equal(hooked, exact) and y.dtype == torch.bfloat16


def test_runs_recorded_before_the_device_keys_are_reused(toy_config, tmp_path):
    from spikebit.train.run import same_config, train_or_reuse

    last, saved = _seed_run(toy_config, tmp_path)
    ckpt = load_checkpoint(last)  # as written before `device`/`precision` existed
    for key in ("device", "precision"):
        ckpt.meta["config"].pop(key)
    for key in ("workers", "stream", "image_size"):
        ckpt.meta["config"]["data"].pop(key)
    save_checkpoint(last, ckpt)
    config = config_from_dict(dict(toy_config, optim={**toy_config["optim"], "epochs": 1}))
    assert same_config(ckpt.meta["config"], config)
    assert not same_config(ckpt.meta["config"], config_from_dict(dict(toy_config, seed=9)))
    assert not same_config({**ckpt.meta["config"], "gone": 1}, config)
    metrics, run_dir = train_or_reuse(config)  # reused: nothing trained, nothing moved
    assert metrics == ckpt.meta["metrics"] and run_dir == last.parent
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["toy"]


def test_cli_device_flags(toy_config, tmp_path, capsys, no_cuda, monkeypatch):
    import yaml

    from spikebit.cli.main import main

    last, saved = _seed_run(toy_config, tmp_path)
    assert main(["eval", str(last), "--device", "cpu"]) == 0
    assert '"test_acc"' in capsys.readouterr().out
    assert main(["info", str(last), "--device", "cuda", "--no-activity"]) == 2
    assert "--device cpu" in capsys.readouterr().err
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump(toy_config))
    assert main(["train", str(cfg), "--device", "gpu"]) == 2
    assert "unknown device 'gpu'" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # `reproduce` trains under ./runs
    assert main(["reproduce", "albsnn-table5", "--budget", "smoke", "--device", "cuda:0",
                 "--out-dir", str(tmp_path / "res")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert last.read_bytes() == saved
    assert not (tmp_path / "runs" / "reproduce").exists()  # the device error came first

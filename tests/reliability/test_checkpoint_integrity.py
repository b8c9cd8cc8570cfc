"""Issue 20 item 6 and the checkpoint cases: corruption and bad metadata are CheckpointErrors."""

import json
import random

import pytest
import torch
from safetensors.torch import save_file

from spikebit.errors import CheckpointError
from spikebit.train import config_from_dict, load_checkpoint, model_from_checkpoint
from spikebit.train.checkpoint import Checkpoint, save_checkpoint, tensor_digest
from spikebit.train.run import train_from_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests_toy import toy_config_dict

    out = tmp_path_factory.mktemp("runs")
    _, run_dir = train_from_config(config_from_dict(toy_config_dict(out, epochs=1)))
    return run_dir / "last.safetensors"


def _raw_write(path, ckpt):
    """Write without re-hashing (as an editor or a disk error would)."""
    save_file({k: v.contiguous() for k, v in ckpt.tensors.items()}, str(path),
              metadata={k: json.dumps(v) for k, v in ckpt.meta.items()})


def test_digest_is_sha256_of_dtype_shape_and_bytes():
    import hashlib

    t = torch.tensor([1.0, -2.0], dtype=torch.float32)
    expected = hashlib.sha256(b"torch.float32|(2,)|" + t.numpy().tobytes()).hexdigest()
    assert tensor_digest(t) == expected
    assert tensor_digest(t) != tensor_digest(t.to(torch.float64))


def test_every_single_bit_flip_in_tensor_bytes_is_detected(trained, tmp_path):
    raw = bytearray(trained.read_bytes())
    header = 8 + int.from_bytes(raw[:8], "little")
    rng = random.Random(0)
    for _ in range(32):
        flipped = bytearray(raw)
        pos = rng.randrange(header, len(raw))
        flipped[pos] ^= 1 << rng.randrange(8)
        path = tmp_path / "flip.safetensors"
        path.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match="SHA-256|NaN/inf"):
            load_checkpoint(path)
    assert load_checkpoint(trained, verify=False).tensors  # opt-out still loads


def test_opt_out_skips_hashes_but_not_nonfinite_weights(trained, tmp_path, monkeypatch):
    ckpt = load_checkpoint(trained)
    key = next(k for k in ckpt.tensors if k.startswith("model.") and k.endswith("weight"))
    ckpt.tensors[key] = ckpt.tensors[key].clone().fill_(float("nan"))
    path = tmp_path / "nan.safetensors"
    _raw_write(path, ckpt)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)
    monkeypatch.setenv("SPIKEBIT_VERIFY_CHECKPOINTS", "0")
    with pytest.raises(CheckpointError, match=rf"NaN/inf values in \['{key}'\]"):
        load_checkpoint(path)


@pytest.mark.parametrize("field,value,pattern", [
    ("trainer", None, "'trainer' must be a mapping"),
    ("trainer", {"epoch": "1", "step": 8, "best_acc": 0.5, "history": [{}]}, "trainer.epoch"),
    ("trainer", {"epoch": 1, "step": 8, "best_acc": 0.5, "history": []}, "trainer.history"),
    ("optimizer", {"param_groups": "x", "scalars": {}}, "optimizer.param_groups"),
    ("optimizer", {"param_groups": [{"params": [0], "lr": 0.1}]}, "optimizer.scalars"),
    ("config", [], "'config' must be a dict"),
    ("scheduler", 3, "'scheduler' must be a dict"),
    ("callbacks", "x", "'callbacks' must be a dict"),
    ("quantize", {"body.0.module": "yes"}, "'quantize' must map"),
    ("input", {"in_shape": [1, -8, 8], "num_classes": 2}, "input.in_shape"),
])
def test_bad_metadata_names_the_field(trained, tmp_path, field, value, pattern):
    ckpt = load_checkpoint(trained)
    if value is None:
        ckpt.meta[field] = []
    else:
        ckpt.meta[field] = value
    path = tmp_path / "meta.safetensors"
    save_checkpoint(path, ckpt)  # consistent hashes: the structure check must catch it
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(path)


def test_missing_rng_and_sections(trained, tmp_path):
    ckpt = load_checkpoint(trained)
    del ckpt.tensors["rng.torch"]
    save_checkpoint(tmp_path / "rng.safetensors", ckpt)
    with pytest.raises(CheckpointError, match="rng.torch"):
        load_checkpoint(tmp_path / "rng.safetensors")


def test_int32_weights_flags_and_mixed_files(trained, tmp_path):
    ckpt = load_checkpoint(trained)
    key = next(k for k in ckpt.tensors if k.startswith("model.") and k.endswith("weight"))
    bad = Checkpoint({**ckpt.tensors, key: ckpt.tensors[key].to(torch.int32)}, ckpt.meta)
    save_checkpoint(tmp_path / "int.safetensors", bad)
    with pytest.raises(CheckpointError, match=rf"'{key}' is torch.int32"):
        model_from_checkpoint(tmp_path / "int.safetensors")
    # a flipped quantize flag, written raw: the metadata hash catches it
    flags = dict(ckpt.meta["quantize"])
    name = next(iter(flags))
    flags[name] = not flags[name]
    _raw_write(tmp_path / "flag.safetensors", Checkpoint(ckpt.tensors, {**ckpt.meta,
                                                                         "quantize": flags}))
    with pytest.raises(CheckpointError, match="metadata fails its SHA-256"):
        load_checkpoint(tmp_path / "flag.safetensors")
    # flags naming layers the model does not have
    save_checkpoint(tmp_path / "names.safetensors",
                    Checkpoint(ckpt.tensors, {**ckpt.meta, "quantize": {"other": True}}))
    with pytest.raises(CheckpointError, match="'quantize' names layers"):
        model_from_checkpoint(tmp_path / "names.safetensors")
    # A's tensors with B's metadata
    other = {**ckpt.meta, "metrics": {**ckpt.meta["metrics"], "test_acc": 0.0}}
    _raw_write(tmp_path / "mixed.safetensors", Checkpoint(ckpt.tensors, {
        **other, "integrity": ckpt.meta["integrity"]}))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(tmp_path / "mixed.safetensors")


def test_checkpoints_record_provenance(trained):
    prov = load_checkpoint(trained).meta["provenance"]
    assert prov["torch"] == torch.__version__ and prov["threads"] == torch.get_num_threads()
    assert prov["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(prov) >= {"spikebit", "git_commit", "cpu", "device"}

"""GPU tests: skipped where CUDA is absent; deterministic kernels where CUDA is present.

cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` before its first use for deterministic results,
so it is set here, at collection, before any test touches the GPU.
"""

import os

import pytest
import torch

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)


@pytest.fixture
def deterministic():
    """Deterministic cuDNN/cuBLAS kernels for the duration of a test (an op without a
    deterministic CUDA kernel warns instead of raising: an exactness check then says so)."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.benchmark = before[1]


@pytest.fixture
def small_data():
    """``data`` section of a small config: 2,048/1,000 Fashion-MNIST images if cached, else toy."""
    from spikebit.data.cache import cache_dir

    if (cache_dir() / "fashion-mnist").is_dir():
        return {"name": "fashion-mnist", "train_limit": 2048, "test_limit": 1000}
    return {"name": "toy"}

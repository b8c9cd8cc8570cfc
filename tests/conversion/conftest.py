"""Conversion tests run many tiny ops per time step: one intra-op thread is much faster
(and avoids oversubscribing a busy machine). The previous setting is restored."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

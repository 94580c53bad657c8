"""Shared fixtures: models exported for the tests, and their torch.jit.load references."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
sys.path.insert(0, str(ROOT / "scripts"))

import export  # noqa: E402  (scripts/export.py)


def script_and_save(module, path: Path) -> Path:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        torch.jit.script(module.eval()).save(str(path))
    return path


@pytest.fixture(scope="session")
def resnet18_path(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "resnet18.pt"
    return export.export("resnet18", weights="random", output=out, seed=0)


@pytest.fixture(scope="session")
def resnet18_ref(resnet18_path):
    """The recipe's reference: the same file through torch.jit.load in Python."""
    import torch

    return torch.jit.load(str(resnet18_path)).eval()


def reference_topk(module, batch: np.ndarray, k: int):
    import torch

    with torch.inference_mode():
        logits = module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        top = torch.softmax(logits, 1).topk(k, 1)
    return top.indices.numpy(), top.values.numpy(), logits.numpy()


@pytest.fixture
def images():
    def make(*shape, seed=0):
        return np.random.default_rng(seed).random(shape, dtype=np.float32)

    return make


@contextmanager
def raises_exactly(cls, match=None):
    """pytest.raises that also refuses subclasses: each failure has one exception class, and
    a fault that raises a relative of it (a ModelNotFoundError for a directory) must fail."""
    with pytest.raises(cls, match=match) as caught:
        yield caught
    assert type(caught.value) is cls, (
        f"{type(caught.value).__name__} raised where {cls.__name__} was expected: {caught.value}"
    )


def join_all(threads, timeout: float = 120.0):
    """Joins threads, failing (instead of hanging the suite) when one is still running."""
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), f"{thread.name} still running after {timeout} s"

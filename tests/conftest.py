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


# A small classifier for the AOTInductor package tests: a 1x3x224x224 input (what ts-infer and
# the examples feed) and 20 classes.
SMALL_SHAPE = [1, 3, 224, 224]
SMALL_CLASSES = 20
SMALL_LABELS = [f"class {i}" for i in range(SMALL_CLASSES)]


def small_classifier():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=4),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, SMALL_CLASSES),
    )
    with torch.no_grad():  # logits spread apart, so that top-5 orders are not near-ties
        model[-1].weight.mul_(20)
    return model.eval()


@pytest.fixture(scope="session")
def small_package(tmp_path_factory):
    """The same small classifier as an AOTInductor package (compiled once, about 20 s) and as
    a TorchScript file."""
    import json

    from pyfront import export_pt2

    folder = tmp_path_factory.mktemp("pt2")
    eager = small_classifier()
    meta = {
        "model": "small",
        "labels": SMALL_LABELS,
        "input_shape": SMALL_SHAPE,
        "preprocessing": {
            "resize": [256],
            "crop": [224, 224],
            "interpolation": "bilinear",
            "antialias": True,
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
        },
    }
    metadata = {"pyfront/meta.json": json.dumps(meta), "tsrt/input_shapes": "1x3x224x224\n"}
    package = export_pt2.compile_package(eager, SMALL_SHAPE, metadata, folder / "small.pt2")
    script = script_and_save(eager, folder / "small.pt")
    return package, script


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

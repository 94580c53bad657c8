"""IsolatedModel: the same answers as Model, from a worker process whose crash or hang the
caller survives."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pyfront

import zoo
from conftest import ROOT


def test_same_answers_as_model(resnet18_path, images):
    x = images(2, 3, 224, 224)
    with pyfront.IsolatedModel(resnet18_path, timeout=120) as isolated:
        model = pyfront.Model(resnet18_path)
        np.testing.assert_array_equal(isolated.forward(x), model.forward(x))
        np.testing.assert_array_equal(isolated.topk(x, k=3).indices, model.topk(x, k=3).indices)
        assert isolated.method_names() == model.method_names()
        assert isolated.schema() == model.schema()
        assert isolated.extra_files == model.extra_files
        assert isolated.metadata["model"] == "resnet18"
        assert isolated.fused == model.fused and isolated.frozen == model.frozen
    assert isolated.closed
    assert isolated._process.stdin.closed and isolated._process.stdout.closed
    with pytest.raises(pyfront.ModelClosedError):
        isolated.forward(x)


def test_values_state_and_errors_cross_the_process_boundary(tmp_path):
    mixed = zoo.save(zoo.Mixed(), tmp_path / "mixed.pt")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with pyfront.IsolatedModel(mixed, timeout=120) as isolated:
        ours = isolated.forward(x, 0.5, 3, True, "abc")
        ref = pyfront.Model(mixed).forward(x, 0.5, 3, True, "abc")
        np.testing.assert_array_equal(ours[0], ref[0])
        assert ours[1:] == ref[1:] and isinstance(ours, tuple)
        with pytest.raises(pyfront.InvalidArgumentError, match="schema"):
            isolated.forward(x)
        with pytest.raises(pyfront.NoSuchNameError):
            isolated.run_method("nope")
    counter = zoo.save(zoo.Counter(), tmp_path / "counter.pt")
    with pyfront.IsolatedModel(counter.read_bytes(), timeout=120) as isolated:
        assert isolated.keeps_state
        for step in (1, 2, 3):
            count, _ = isolated.forward(step, np.ones(3, np.float32))
        assert count == 6
    open_files = len(os.listdir("/proc/self/fd"))
    with pytest.raises(pyfront.ModelNotFoundError) as caught:
        pyfront.IsolatedModel(tmp_path / "missing.pt", timeout=120)
    # The stopped worker's pipes are closed at once, not when the object is collected (the
    # traceback `caught` holds keeps it alive here).
    assert len(os.listdir("/proc/self/fd")) == open_files, caught


def test_a_crash_in_the_worker_is_contained():
    crasher = sorted((ROOT / "tests" / "data" / "fuzz-crashers").glob("*.pt"))[0]
    with pytest.raises(pyfront.ModelCrashedError, match="died"):
        pyfront.IsolatedModel(crasher, debug_info=True, timeout=120)  # aborts libtorch
    # ... and this process is still here to say so.


def test_a_model_that_never_returns_is_stopped(tmp_path):
    path = zoo.save(zoo.Spins(), tmp_path / "spins.pt")
    isolated = pyfront.IsolatedModel(path, timeout=10)
    with pytest.raises(pyfront.ModelCrashedError, match="did not answer"):
        isolated.forward(np.zeros(3, np.float32))
    assert isolated.closed
    assert isolated._process.stdin.closed and isolated._process.stdout.closed  # fds released
    with pytest.raises(pyfront.ModelClosedError) as caught:  # later calls say why
        isolated.forward(np.zeros(3, np.float32))
    assert str(caught.value) == (
        "the model is closed: its worker process was stopped after "
        "the model did not answer within 10 s; create a new "
        "IsolatedModel to run it again"
    )

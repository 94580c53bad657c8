"""Every bad call has a defined result: a clean error or the right answer, never a crash."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import pyfront
import zoo
from conftest import reference_topk


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path_factory.mktemp("small") / "small.pt")
    return path, torch.jit.load(str(path))


def test_empty_batch(small):
    path, ref = small
    empty = np.zeros((0, 3, 12, 12), np.float32)
    model = pyfront.Model(path)
    assert model.forward(empty).shape == (0, 10)
    top = model.topk(empty, k=3)
    assert top.indices.shape == (0, 3) and top.probs.shape == (0, 3)


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_nan_and_inf_inputs_match_torch(small, special):
    path, ref = small
    x = np.random.default_rng(0).random((3, 3, 12, 12), dtype=np.float32)
    x[1, 0, 2, 2] = special
    ours = pyfront.Model(path).topk(x, k=4)
    ref_indices, ref_probs, ref_logits = reference_topk(ref, x, 4)
    np.testing.assert_array_equal(pyfront.Model(path).forward(x), ref_logits)
    np.testing.assert_array_equal(ours.probs, ref_probs)  # NaN where torch has NaN
    finite_rows = np.isfinite(ref_probs).all(axis=1)
    np.testing.assert_array_equal(ours.indices[finite_rows], ref_indices[finite_rows])


@pytest.mark.parametrize("k", [0, -3, 11])
def test_k_out_of_range(small, k):
    with pytest.raises(pyfront.InvalidArgumentError, match="k"):
        pyfront.Model(small[0]).topk(np.zeros((1, 3, 12, 12), np.float32), k=k)


def test_k_equal_to_class_count(small):
    top = pyfront.Model(small[0]).topk(np.zeros((1, 3, 12, 12), np.float32), k=10)
    assert sorted(top.indices[0].tolist()) == list(range(10))


@pytest.mark.parametrize("array", [
    np.zeros((1, 3, 12, 12), np.int64),     # a dtype the model rejects
    np.zeros((1, 3, 12, 12), np.float64),
    np.zeros((12, 12), np.float32),         # a rank the model rejects
    np.zeros((1, 3, 2, 2), np.float32),     # too small for the kernel
])
def test_inputs_the_model_rejects(small, array):
    model = pyfront.Model(small[0])
    with pytest.raises(pyfront.InferenceError, match=r"forward failed on \("):
        model.forward(array)
    assert model.forward(np.zeros((1, 3, 12, 12), np.float32)).shape == (1, 10)


def test_every_call_on_a_closed_model_raises(small):
    model = pyfront.Model(small[0])
    extra = model.extra_files
    model.close()
    x = np.zeros((1, 3, 12, 12), np.float32)
    calls = [lambda: model.forward(x), lambda: model.run_method("forward", x),
             lambda: model.topk(x), model.method_names, lambda: model.schema(),
             lambda: model.parameter_count, lambda: model.keeps_state]
    for call in calls:
        with pytest.raises(pyfront.ModelClosedError):
            call()
    assert model.extra_files == extra  # plain Python data, still readable
    model.close()
    with model:  # entering a closed model is allowed; using it is not
        pass


@pytest.mark.parametrize("source", [42, None, 3.5, ["a.pt"]])
def test_sources_that_are_not_paths_or_bytes(source):
    with pytest.raises(pyfront.InvalidArgumentError, match="path or bytes"):
        pyfront.Model(source)


def test_path_with_nul_byte():
    with pytest.raises(pyfront.InvalidArgumentError, match="NUL"):
        pyfront.Model("model\0.pt")


def test_size_limit(small, tmp_path):
    path = small[0]
    size = path.stat().st_size
    with pytest.raises(pyfront.ModelLoadError, match="more than the limit"):
        pyfront.Model(path, max_file_size=size - 1)
    with pytest.raises(pyfront.ModelLoadError, match="more than the limit"):
        pyfront.Model(path.read_bytes(), max_file_size=size - 1)
    assert pyfront.Model(path, max_file_size=size).parameter_count > 0
    with pytest.raises(pyfront.InvalidArgumentError):
        pyfront.Model(path, max_file_size=0)


def test_special_files_are_not_models(tmp_path):
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(pyfront.ModelLoadError, match="not a regular file"):
        pyfront.Model(fifo)  # must not block waiting for a writer
    with pytest.raises(pyfront.ModelLoadError, match="directory"):
        pyfront.Model("/")


def test_bad_method_calls(small):
    model = pyfront.Model(small[0])
    with pytest.raises(pyfront.NoSuchNameError):
        model.run_method("no_such_method")
    with pytest.raises(pyfront.InvalidArgumentError):
        model.run_method(b"forward", np.zeros((1, 3, 12, 12), np.float32))
    with pytest.raises(pyfront.InvalidArgumentError, match="argument"):
        model.forward(np.zeros((1, 3, 12, 12), np.float32), np.zeros(1, np.float32))

"""pyfront gives what torch.jit.load gives on the same file."""

from __future__ import annotations

import numpy as np
import pytest

import pyfront
from pyfront._bindings.tensors import data_pointer
from pyfront._ffi import ffi
from pyfront._shared import as_float32_input

from conftest import reference_topk


@pytest.mark.parametrize(
    "shape",
    [(1, 3, 224, 224), (4, 3, 224, 224), (3, 224, 224)],
    ids=["batch1", "batch4", "single-chw"],
)
def test_infer_matches_torch_jit_load(resnet18_path, resnet18_ref, images, shape):
    batch = images(*shape, seed=len(shape) + shape[0])
    top = pyfront.infer(resnet18_path, batch, k=5)
    ref_indices, ref_probs, _ = reference_topk(resnet18_ref, batch.reshape(-1, 3, 224, 224), 5)
    rows = 1 if len(shape) == 3 else shape[0]
    assert top.indices.shape == top.probs.shape == (rows, 5)
    assert top.indices.dtype == np.int64 and top.probs.dtype == np.float32
    np.testing.assert_array_equal(top.indices, ref_indices)
    np.testing.assert_allclose(top.probs, ref_probs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_forward_output_matches(resnet18_path, resnet18_ref, images, batch_size):
    batch = images(batch_size, 3, 224, 224, seed=batch_size)
    with pyfront.Model(resnet18_path) as model:
        logits = model.forward(batch)
    _, _, ref_logits = reference_topk(resnet18_ref, batch, 5)
    assert logits.shape == (batch_size, 1000) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, ref_logits, rtol=0, atol=1e-5)


def test_buffer_loaded_model_matches(resnet18_path, resnet18_ref, images):
    batch = images(4, 3, 224, 224, seed=7)
    data = bytearray(resnet18_path.read_bytes())
    model = pyfront.Model(data)
    data[:] = bytes(len(data))  # the bytes were only borrowed during the load
    top = model.topk(batch, k=5)
    ref_indices, ref_probs, ref_logits = reference_topk(resnet18_ref, batch, 5)
    np.testing.assert_array_equal(top.indices, ref_indices)
    np.testing.assert_allclose(top.probs, ref_probs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.forward(batch), ref_logits, rtol=0, atol=1e-5)
    assert model.path is None and "<bytes>" in repr(model)


def test_topk_over_every_class_is_a_full_sort(resnet18_path, resnet18_ref, images):
    batch = images(2, 3, 224, 224, seed=3)
    top = pyfront.Model(resnet18_path).topk(batch, k=1000)
    ref_indices, ref_probs, _ = reference_topk(resnet18_ref, batch, 1000)
    np.testing.assert_allclose(top.probs, ref_probs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(top.probs.sum(axis=1), 1.0, atol=1e-5)
    for row in range(2):
        assert sorted(top.indices[row].tolist()) == list(range(1000))
    # Class for class in torch's order. Only ties may come out in another order: where the
    # two differ, torch gives both classes the same probability (to within 1e-7, far below
    # the gaps between neighbours here, and above the rounding of fused convolutions).
    ref_by_class = np.take_along_axis(ref_probs, np.argsort(ref_indices, axis=1), axis=1)
    differ = top.indices != ref_indices
    ours_as_ranked_by_torch = np.take_along_axis(ref_by_class, top.indices, axis=1)
    assert (np.abs(ours_as_ranked_by_torch - ref_probs)[differ] <= 1e-7).all(), (
        f"{differ.sum()} classes out of torch's order"
    )


def test_float32_c_contiguous_input_is_not_copied():
    batch = np.zeros((1, 3, 8, 8), np.float32)
    assert as_float32_input(batch) is batch
    pointer = data_pointer(batch)
    assert int(ffi.cast("uintptr_t", pointer)) == batch.ctypes.data


def test_other_layouts_give_the_same_answer(resnet18_path, images):
    batch = images(2, 3, 224, 224, seed=11)
    model = pyfront.Model(resnet18_path)
    expected = model.forward(batch)
    expected_top = model.topk(batch)
    fortran = np.asfortranarray(batch)
    reversed_view = np.ascontiguousarray(batch[:, :, ::-1])[:, :, ::-1]  # negative strides
    readonly = batch.copy()
    readonly.flags.writeable = False
    big_endian = batch.astype(">f4")
    for variant in (fortran, reversed_view, readonly, big_endian):
        np.testing.assert_allclose(model.forward(variant), expected, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(model.topk(variant).indices, expected_top.indices)


def test_topk_and_infer_convert_any_array_like_to_float32(resnet18_path, images):
    model = pyfront.Model(resnet18_path)
    small = images(1, 3, 224, 224)
    expected = model.topk(small)
    for variant in (small.astype(np.float64), small.tolist()):
        np.testing.assert_array_equal(model.topk(variant).indices, expected.indices)
        np.testing.assert_array_equal(pyfront.infer(model, variant).indices, expected.indices)


def test_infer_caches_the_model_and_reloads_a_changed_file(tmp_path, images):
    import torch

    import export

    path = export.export("resnet18", weights="random", output=tmp_path / "m.pt", seed=1)
    batch = images(1, 3, 224, 224, seed=5)
    first = pyfront.infer(path, batch)
    assert pyfront.infer(str(path), batch).indices.tolist() == first.indices.tolist()
    from pyfront import _cache

    assert len([key for key in _cache._entries if key[1].endswith("m.pt")]) == 1

    export.export("resnet18", weights="random", output=path, seed=2)  # another model, same path
    second = pyfront.infer(path, batch)
    ref_indices, ref_probs, _ = reference_topk(torch.jit.load(str(path)), batch, 5)
    np.testing.assert_array_equal(second.indices, ref_indices)
    np.testing.assert_allclose(second.probs, ref_probs, atol=1e-5)
    assert not np.allclose(second.probs, first.probs)
    pyfront.clear_cache()


def test_infer_accepts_a_model_object(resnet18_path, images):
    batch = images(1, 3, 224, 224)
    with pyfront.Model(resnet18_path) as model:
        np.testing.assert_array_equal(
            pyfront.infer(model, batch[0]).indices, pyfront.infer(resnet18_path, batch).indices
        )

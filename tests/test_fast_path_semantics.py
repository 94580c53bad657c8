"""The fast path keeps torch's semantics: NaN and infinities propagate as in torch.jit.load,
empty batches work, and every batch size gives the recipe's answers, fused or not, in fp32 or
bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyfront

import zoo
from conftest import reference_topk

# (precision, fusion): each combination the fast path can run in.
CONFIGS = [("fp32", True), ("fp32", False), ("bf16", True), ("bf16", False)]


def _load(path, precision, fusion, **kwargs):
    pyfront.set_fusion(fusion)
    try:
        model = pyfront.Model(path, precision=precision, **kwargs)
    finally:
        pyfront.set_fusion(True)
    assert model.fused == fusion
    return model


@pytest.fixture(
    scope="module", params=CONFIGS, ids=[f"{p}-{'fused' if f else 'unfused'}" for p, f in CONFIGS]
)
def resnet(request, resnet18_path):
    precision, fusion = request.param
    return _load(resnet18_path, precision, fusion)  # warmed for 1x3x224x224 by the file


def _ref(module, x):
    with torch.inference_mode():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("batch", [1, 2], ids=["warmed shape", "new shape"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_pixels_propagate_as_in_torch(resnet, resnet18_ref, images, batch, value):
    x = images(batch, 3, 224, 224)
    x[0, 1, 100, 100] = value
    ref = _ref(resnet18_ref, x)
    assert np.isnan(ref[0]).all() and np.isfinite(ref[1:]).all()
    for _ in range(3):  # the first call of the new shape, then with its specialisation
        np.testing.assert_array_equal(resnet.forward(x), ref)


def test_huge_inputs_come_out_as_in_torch(resnet, resnet18_ref, images):
    x = images(2, 3, 224, 224) * np.float32(3e38)
    ref = _ref(resnet18_ref, x)
    assert not np.isfinite(ref).all()
    for _ in range(3):
        np.testing.assert_array_equal(resnet.forward(x), ref)


@pytest.mark.parametrize("precision, fusion", CONFIGS)
def test_nan_made_inside_the_model_comes_out_as_in_torch(tmp_path, images, precision, fusion):
    """Overflows makes NaN from ordinary inputs; fused kernels turn it into 0 at a ReLU, but
    its other result is Inf, so the call goes to the reference."""
    path = zoo.save(zoo.Overflows(), tmp_path / "overflows.pt")
    model = _load(path, precision, fusion, warmup=[(2, 3, 16, 16)])
    x = images(2, 3, 16, 16) * np.float32(100)
    recipe = torch.jit.load(str(path))
    with torch.inference_mode():
        ref = [t.numpy() for t in recipe(torch.from_numpy(x))]
    assert np.isnan(ref[0]).any() and np.isinf(ref[1])
    for _ in range(3):
        ours = model.forward(x)
        np.testing.assert_array_equal(ours[0], ref[0])
        np.testing.assert_array_equal(ours[1], ref[1])


def test_an_empty_batch_gives_an_empty_result(resnet, resnet18_ref):
    x = np.zeros((0, 3, 224, 224), np.float32)
    ref = _ref(resnet18_ref, x)
    for _ in range(3):
        ours = resnet.forward(x)
        assert ours.shape == ref.shape == (0, 1000) and ours.dtype == np.float32
        top = resnet.topk(x, k=5)
        assert top.indices.shape == (0, 5) and top.probs.shape == (0, 5)


def test_every_batch_size_gives_the_recipes_answers(resnet18_path, resnet18_ref, images):
    """Shapes never warmed up, each called a few times: top-5 as torch.jit.load, logits within
    1e-4 of the largest; the call that meets a shape returns the unfused model's result."""
    model = pyfront.Model(resnet18_path)
    assert model.fused
    for batch in (3, 8, 2):
        x = images(batch, 3, 224, 224, seed=batch)
        indices, _, ref = reference_topk(resnet18_ref, x, 5)
        np.testing.assert_array_equal(model.forward(x), ref)  # the first call: the reference
        for _ in range(3):
            logits = model.forward(x)
            assert np.abs(logits - ref).max() <= 1e-4 * np.abs(ref).max()
            np.testing.assert_array_equal(model.topk(x, k=5).indices, indices)


def test_more_shapes_than_get_specialised_still_match(tmp_path, images):
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    model = pyfront.Model(path, warmup=[(1, 3, 8, 8)])
    assert model.fused
    recipe = torch.jit.load(str(path))
    for batch in range(1, 13):
        x = images(batch, 3, 8, 8, seed=batch)
        ref = _ref(recipe, x)
        for _ in range(3):
            np.testing.assert_allclose(model.forward(x), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_an_empty_warmup_shape_leaves_the_others_fast(resnet18_path):
    """oneDNN cannot compile kernels for an empty batch: such a warm-up shape is left to the
    reference instead of failing the fused path's check for every shape."""
    model = pyfront.Model(resnet18_path, warmup=[(0, 3, 224, 224), (1, 3, 224, 224)])
    assert model.fused
    assert model.forward(np.zeros((0, 3, 224, 224), np.float32)).shape == (0, 1000)

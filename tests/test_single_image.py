"""One rule for a single example where a batch is expected: `topk` and `infer` (and so
IsolatedModel and classify) run an array with one dimension fewer than the model's declared
input as a batch of one and return (1, k); `forward` passes arguments as given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyfront

import zoo
from conftest import reference_topk


class Signal(torch.nn.Module):
    """A classifier of 1-D signals: its batches are 3-D (N, C, L)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, 6, 3)
        self.fc = torch.nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=2))


def test_one_chw_image_is_a_batch_of_one_for_topk_and_infer(resnet18_path, resnet18_ref, images):
    image = images(3, 224, 224, seed=5)
    ref_indices, ref_probs, _ = reference_topk(resnet18_ref, image[None], 5)
    model = pyfront.Model(resnet18_path)
    for top in (
        model.topk(image, k=5),
        pyfront.infer(model, image, k=5),
        pyfront.infer(resnet18_path, image, k=5),
    ):
        assert top.indices.shape == top.probs.shape == (1, 5)
        np.testing.assert_array_equal(top.indices, ref_indices)
        np.testing.assert_allclose(top.probs, ref_probs, rtol=0, atol=1e-5)


def test_isolated_model_follows_the_same_rule(resnet18_path, images):
    image = images(3, 224, 224, seed=6)
    with pyfront.IsolatedModel(resnet18_path, timeout=120) as isolated:
        top = isolated.topk(image, k=3)
    expected = pyfront.Model(resnet18_path).topk(image[None], k=3)
    assert top.indices.shape == (1, 3)
    np.testing.assert_array_equal(top.indices, expected.indices)


def test_forward_passes_a_single_image_as_given(resnet18_path, images):
    image = images(3, 224, 224, seed=7)
    model = pyfront.Model(resnet18_path)
    with pytest.raises(pyfront.InferenceError, match=r"Float\[3, 224, 224\]"):
        model.forward(image)
    assert model.forward(image[None]).shape == (1, 1000)


def test_without_a_declared_shape_a_3d_array_is_one_image(tmp_path, images):
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")  # declares no input shape
    image = images(3, 12, 12, seed=8)
    top = pyfront.Model(path).topk(image, k=3)
    ref_indices, ref_probs, _ = reference_topk(torch.jit.load(str(path)), image[None], 3)
    assert top.indices.shape == (1, 3)
    np.testing.assert_array_equal(top.indices, ref_indices)
    np.testing.assert_allclose(top.probs, ref_probs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("declared", ["shapes", "metadata"])
def test_a_model_with_3d_batches_gets_them_as_given(tmp_path, images, declared):
    torch.manual_seed(0)
    extra = (
        {"tsrt/input_shapes": "1x4x16\n"}
        if declared == "shapes"
        else {"pyfront/meta.json": '{"input_shape": [1, 4, 16]}'}
    )
    path = zoo.save(Signal(), tmp_path / "signal.pt", extra_files=extra)
    ref = torch.jit.load(str(path))
    model = pyfront.Model(path)
    batch = images(3, 4, 16, seed=9)  # three signals, not one image
    top = model.topk(batch, k=2)
    ref_indices, ref_probs, _ = reference_topk(ref, batch, 2)
    assert top.indices.shape == (3, 2)
    np.testing.assert_array_equal(top.indices, ref_indices)
    np.testing.assert_allclose(top.probs, ref_probs, rtol=0, atol=1e-6)
    one = model.topk(batch[0], k=2)  # one (C, L) signal: a batch of one
    assert one.indices.shape == (1, 2)
    np.testing.assert_array_equal(one.indices, ref_indices[:1])

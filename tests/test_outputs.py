"""forward hands back every tensor type the ABI names, exactly as torch.jit.load does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyfront

from conftest import script_and_save


class Cast(torch.nn.Module):
    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 3.7 - 1.2).to(self.dtype)


DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_each_output_dtype(tmp_path, images, dtype):
    path = script_and_save(Cast(dtype), tmp_path / "cast.pt")
    batch = images(2, 3, 4)
    ours = pyfront.Model(path).forward(batch)
    ref = torch.jit.load(str(path))(torch.from_numpy(batch))
    if dtype == torch.bfloat16:  # numpy has no bfloat16: widened to float32 exactly
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, ref.float().numpy())
    else:
        assert ours.dtype == ref.numpy().dtype
        np.testing.assert_array_equal(ours, ref.numpy())


class Scalar(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum()


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Pair(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        return x, x + 1


class Doubled(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, -x], 0)


def test_zero_dim_and_empty_outputs(tmp_path, images):
    model = pyfront.Model(script_and_save(Scalar(), tmp_path / "sum.pt"))
    batch = images(3, 5)
    result = model.forward(batch)
    assert result.shape == () and result.dtype == np.float32
    assert result == torch.from_numpy(batch).sum().item()
    assert model.forward(np.zeros((0, 5), np.float32)) == 0.0
    identity = pyfront.Model(script_and_save(Identity(), tmp_path / "id.pt"))
    assert identity.forward(np.zeros((0, 4), np.float32)).shape == (0, 4)
    zero_d = identity.forward(np.array(2.5, np.float32))
    assert zero_d.shape == () and zero_d.dtype == np.float32 and zero_d == 2.5


def test_tuple_output_through_forward_but_not_through_topk(tmp_path, images):
    model = pyfront.Model(script_and_save(Pair(), tmp_path / "pair.pt"))
    batch = images(2, 3)
    first, second = model.forward(batch)
    np.testing.assert_array_equal(first, batch)
    np.testing.assert_array_equal(second, batch + 1)
    with pytest.raises(pyfront.UnsupportedOutputError, match="Tuple"):
        model.topk(batch, k=1)  # top-k needs a single logits tensor
    assert isinstance(model.forward(batch), tuple)  # the model is still usable afterwards


def test_topk_when_the_model_returns_more_rows_than_it_got(tmp_path, images):
    path = script_and_save(Doubled(), tmp_path / "doubled.pt")
    batch = images(2, 10)
    top = pyfront.Model(path).topk(batch, k=3)
    ref = torch.softmax(torch.jit.load(str(path))(torch.from_numpy(batch)), 1).topk(3, 1)
    assert top.indices.shape == (4, 3)
    np.testing.assert_array_equal(top.indices, ref.indices.numpy())
    np.testing.assert_allclose(top.probs, ref.values.numpy(), atol=1e-6)


class CountsDoubled(torch.nn.Module):
    """Keeps state (a call counter) and returns more rows than it got."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.cat([x, x * 2]) + self.calls

    @torch.jit.export
    def call_count(self) -> int:
        return self.calls


def test_topk_runs_the_model_once_whatever_it_returns(tmp_path, images):
    path = script_and_save(CountsDoubled(), tmp_path / "counts.pt")
    batch = images(2, 10)
    model = pyfront.Model(path)
    assert model.keeps_state
    top = model.topk(batch, k=3)
    reference = torch.jit.load(str(path))
    ref = torch.softmax(reference(torch.from_numpy(batch)), 1).topk(3, 1)
    assert model.run_method("call_count") == reference.call_count() == 1
    np.testing.assert_array_equal(top.indices, ref.indices.numpy())
    np.testing.assert_allclose(top.probs, ref.values.numpy(), atol=1e-6)


def test_topk_needs_two_dimensional_logits(tmp_path, images):
    model = pyfront.Model(script_and_save(Scalar(), tmp_path / "sum.pt"))
    with pytest.raises(pyfront.InvalidArgumentError, match="2-D"):
        model.topk(images(2, 3), k=1)

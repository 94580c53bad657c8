"""Model.bind: a method bound to an input and an output array gives what torch.jit.load gives
on the same file, call after call, for whatever the input array holds at each call; a call
that cannot fit its result into `out` is a clean error that leaves `out` as it was."""

from __future__ import annotations

import gc
from typing import Tuple

import numpy as np
import pytest
import torch

import pyfront
from pyfront.errors import (
    InferenceError,
    InvalidArgumentError,
    ModelClosedError,
    UnsupportedOutputError,
)

import zoo
from conftest import raises_exactly, script_and_save

SENTINEL = -7.25  # what `out` holds before a call that must not write into it


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path_factory.mktemp("small") / "small.pt")
    return path, torch.jit.load(str(path))


@pytest.fixture(scope="module")
def aliases(tmp_path_factory):
    path = script_and_save(zoo.Aliases(), tmp_path_factory.mktemp("aliases") / "aliases.pt")
    return path, torch.jit.load(str(path))


def _torch(module, method: str, array: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return getattr(module, method)(torch.from_numpy(array.copy())).resolve_neg().numpy()


def test_each_call_reads_the_input_as_it_is_then(small):
    path, ref = small
    rng = np.random.default_rng(0)
    x = np.zeros((2, 3, 12, 12), np.float32)
    call = pyfront.Model(path).bind(x)
    results = []
    for _ in range(4):
        x[...] = rng.random(x.shape, dtype=np.float32)
        results.append(call())
        np.testing.assert_array_equal(results[-1], _torch(ref, "forward", x))
    assert all(result is call.out for result in results)  # one array, overwritten each call
    assert call.out.shape == (2, 10) and call.out.dtype == np.float32


def test_a_given_out_is_filled_and_returned(small):
    path, ref = small
    x = np.random.default_rng(1).random((3, 3, 12, 12), dtype=np.float32)
    out = np.full((3, 10), SENTINEL, np.float32)
    call = pyfront.Model(path).bind(x, out=out)
    assert call() is out
    np.testing.assert_array_equal(out, _torch(ref, "forward", x))


@pytest.mark.parametrize("method", ["forward", "flat", "first", "transposed"])
def test_results_that_alias_the_input_or_are_strided(aliases, method):
    """Views of the input, and a transposed view, come out C-contiguous and as torch has them."""
    path, ref = aliases
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    call = pyfront.Model(path).bind(x, method=method)
    expected = _torch(ref, method, x)
    np.testing.assert_array_equal(call(), expected)
    x *= 10
    np.testing.assert_array_equal(call(), _torch(ref, method, x))
    assert call.out.flags.c_contiguous


def test_out_may_be_the_input(tmp_path):
    path = script_and_save(zoo.DoubleIt(), tmp_path / "double.pt")
    ref = torch.jit.load(str(path))
    x = np.array([1.5, -2.0, 3.25, 0.0], np.float32)
    expected = [_torch(ref, "forward", x)]
    expected.append(_torch(ref, "forward", expected[0]))
    call = pyfront.Model(path).bind(x, out=x)
    for want in expected:
        assert call() is x
        np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.uint8])
def test_dtypes_other_than_float32(tmp_path, dtype):
    path = script_and_save(zoo.DoubleIt(), tmp_path / "double.pt")
    ref = torch.jit.load(str(path))
    x = (np.arange(12) % 100).astype(dtype).reshape(3, 4)
    call = pyfront.Model(path).bind(x)
    for step in range(3):  # the first call allocates out, the others write into it
        x[...] = (np.arange(12).reshape(3, 4) * (step + 1)) % 100
        np.testing.assert_array_equal(call(), _torch(ref, "forward", x))
    assert call.out.dtype == dtype


def test_a_bfloat16_result_fills_a_float32_out(tmp_path):
    path = script_and_save(zoo.ToBFloat16(), tmp_path / "bf16.pt")
    ref = torch.jit.load(str(path))
    x = np.zeros((2, 5), np.float32)
    call = pyfront.Model(path).bind(x)
    for seed in range(3):  # the first call allocates out, the others widen into it
        x[...] = np.random.default_rng(seed).random(x.shape, dtype=np.float32)
        with torch.no_grad():
            expected = ref(torch.from_numpy(x.copy())).float().numpy()
        np.testing.assert_array_equal(call(), expected)
    assert call.out.dtype == np.float32


class LazilyNegated(torch.nn.Module):
    """Real results whose memory holds their values un-negated: views with libtorch's lazy
    negation bit set. Only a contiguous one is read wrong if the bit is ignored: the
    imaginary part of a conjugate is one when it has a single element."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.complex(x, x + 1).conj().imag

    @torch.jit.export
    def negated(self, x: torch.Tensor) -> torch.Tensor:
        return torch._neg_view(x + 1)

    @torch.jit.export
    def both(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return torch._neg_view(x + 1), x


@pytest.mark.parametrize(
    "method, x",
    [("forward", [3.0]), ("forward", [0.0, 1.0, 2.0]), ("negated", [0.0, 1.0, 2.0])],
    ids=["imaginary-1", "imaginary-3", "neg-view"],
)
def test_a_lazily_negated_result(tmp_path, method, x):
    path = script_and_save(LazilyNegated(), tmp_path / "negated.pt")
    x = np.array(x, np.float32)
    expected = -(x + 1)
    np.testing.assert_array_equal(_torch(torch.jit.load(str(path)), method, x), expected)
    model = pyfront.Model(path)
    np.testing.assert_array_equal(model.run_method(method, x), expected)  # run_tensor
    np.testing.assert_array_equal(model.run_method("both", x)[0], expected)  # a value's tensor
    call = model.bind(x, method=method)
    np.testing.assert_array_equal(call(), expected)  # allocates out
    np.testing.assert_array_equal(call(), expected)  # run_tensor_into


class Complex(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.complex(x, x)


def test_a_result_of_a_dtype_no_out_can_hold(tmp_path):
    path = script_and_save(Complex(), tmp_path / "complex.pt")
    x = np.ones(3, np.float32)
    out = np.full(3, SENTINEL, np.float32)
    with raises_exactly(UnsupportedOutputError, match=r"ComplexFloat\[3\], which no out can hold"):
        pyfront.Model(path).bind(x, out=out)()
    assert (out == SENTINEL).all()


def test_a_package_gives_what_torch_loads(small_package):
    package, _ = small_package
    x = np.random.default_rng(3).random((2, 3, 224, 224), dtype=np.float32)
    reference = torch._inductor.aoti_load_package(str(package))
    call = pyfront.Model(package).bind(x)
    for scale in (1.0, 0.5):
        x *= scale
        with torch.no_grad():
            expected = reference(torch.from_numpy(x.copy())).numpy()
        np.testing.assert_array_equal(call(), expected)  # bit for bit, as test_pt2 checks


@pytest.mark.parametrize(
    "out, detail",
    [
        (np.full((2, 9), SENTINEL, np.float32), r"Float\[2, 10\] but out is Float\[2, 9\]"),
        (np.full((20,), SENTINEL, np.float32), r"Float\[2, 10\] but out is Float\[20\]"),
        (np.full((2, 10), SENTINEL, np.float64), r"Float\[2, 10\] but out is Double\[2, 10\]"),
    ],
    ids=["shape", "rank", "dtype"],
)
def test_an_out_that_does_not_fit_is_an_error_and_stays_untouched(small, out, detail):
    path, ref = small
    x = np.random.default_rng(4).random((2, 3, 12, 12), dtype=np.float32)
    model = pyfront.Model(path)
    call = model.bind(x, out=out)
    before = out.copy()
    with raises_exactly(InvalidArgumentError, match=detail):
        call()
    np.testing.assert_array_equal(out, before)
    np.testing.assert_array_equal(model.forward(x), _torch(ref, "forward", x))  # still works


def test_a_shape_given_to_the_input_in_place_is_not_seen(small):
    """The first call sized out for a batch of 2; the input array then gets another shape in
    place (which numpy allows while the array is lent): the call keeps the bound one."""
    path, ref = small
    x = np.random.default_rng(5).random((2, 3, 12, 12), dtype=np.float32)
    call = pyfront.Model(path).bind(x)
    first = call().copy()
    np.testing.assert_array_equal(first, _torch(ref, "forward", x))
    x.shape = (1, 6, 12, 12)  # the same bytes seen as another shape
    np.testing.assert_array_equal(call(), first)
    assert "float32[2, 3, 12, 12]" in repr(call)


class Positives(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0]  # a result whose shape depends on the values


def test_a_result_that_changes_shape_is_an_error_that_leaves_out(tmp_path):
    path = script_and_save(Positives(), tmp_path / "positives.pt")
    x = np.array([1.0, -1.0, 2.0, -2.0], np.float32)
    call = pyfront.Model(path).bind(x)
    out = call()
    np.testing.assert_array_equal(out, [1.0, 2.0])
    x[1] = 3.0
    with raises_exactly(InvalidArgumentError, match=r"Float\[3\] but out is Float\[2\]"):
        call()
    np.testing.assert_array_equal(out, [1.0, 2.0])
    x[1] = -5.0
    x[0] = 4.0
    assert call() is out
    np.testing.assert_array_equal(out, [4.0, 2.0])


def test_a_method_that_fails_leaves_out_untouched(small):
    path, _ = small
    x = np.zeros((2, 3, 2, 2), np.float32)  # too small for the 3x3 kernel
    out = np.full((2, 10), SENTINEL, np.float32)
    call = pyfront.Model(path).bind(x, out=out)
    with raises_exactly(InferenceError, match=r"Float\[2, 3, 2, 2\]"):
        call()
    assert (out == SENTINEL).all()


def test_a_result_that_is_not_one_tensor(tmp_path, aliases):
    path, _ = aliases
    x = np.ones((2, 3), np.float32)
    with raises_exactly(UnsupportedOutputError, match="nested returned a tuple"):
        pyfront.Model(path).bind(x, method="nested")()
    out = np.full((2, 3), SENTINEL, np.float32)
    call = pyfront.Model(path).bind(x, out=out, method="nested")
    with raises_exactly(UnsupportedOutputError, match=r"nested returned a \(Tensor, Tensor\[\]\)"):
        call()
    assert (out == SENTINEL).all()


@pytest.mark.parametrize(
    "which, make, detail",
    [
        ("input array", lambda: np.ones((4, 2), np.float32).T, "must be C-contiguous.*not C-c"),
        ("input array", lambda: np.ones(4, np.float32)[::2], "must be C-contiguous.*not C-c"),
        ("input array", lambda: np.frombuffer(bytes(16), np.float32), "must be C-c.*read-only"),
        ("input array", lambda: [1.0, 2.0], "is a list, but bind takes numpy arrays"),
        ("input array", lambda: np.ones(2, np.complex64), "is complex64\\[2\\], a dtype"),
        ("out", lambda: np.ones((2, 4), np.float32).T, "must be C-contiguous.*not C-c"),
        ("out", lambda: np.frombuffer(bytes(16), np.float32), "must be C-c.*read-only"),
        ("out", lambda: np.ones(4, ">f4"), ">f4\\[4\\], a dtype.*astype"),
    ],
    ids=[
        "transposed",
        "strided",
        "read-only",
        "list",
        "complex",
        "out-transposed",
        "out-read-only",
        "out-big-endian",
    ],
)
def test_arrays_that_cannot_be_lent_are_refused_at_bind(aliases, which, make, detail):
    path, _ = aliases
    model = pyfront.Model(path)
    array, out = (make(), None) if which == "input array" else (np.ones(4, np.float32), make())
    with raises_exactly(InvalidArgumentError, match=f"{which}.*{detail}"):
        model.bind(array, out=out)


def test_the_bound_arrays_cannot_be_swapped(aliases):
    """The call took the arrays' pointers: letting `input` or `out` be set would make calls
    read and write arrays other than those it shows."""
    path, _ = aliases
    call = pyfront.Model(path).bind(np.ones(4, np.float32))
    call()
    for name in ("input", "out", "method"):
        with pytest.raises(AttributeError):
            setattr(call, name, np.zeros(4, np.float32))


def test_a_closed_model(small):
    path, _ = small
    x = np.zeros((1, 3, 12, 12), np.float32)
    model = pyfront.Model(path)
    call = model.bind(x)
    call()
    model.close()
    with raises_exactly(ModelClosedError):
        call()
    with raises_exactly(ModelClosedError):
        model.bind(x)


def test_a_lent_array_cannot_be_resized_until_the_call_is_gone(small):
    path, _ = small
    x = np.zeros((1, 3, 12, 12), np.float32)
    call = pyfront.Model(path).bind(x)
    out = call()
    for array in (x, out):
        with pytest.raises(ValueError, match="cannot resize"):
            array.resize(10**6)  # would move the memory the call writes into
    del call, array
    gc.collect()
    x.resize(10)
    out.resize(10)


def test_an_unknown_method(small):
    path, _ = small
    call = pyfront.Model(path).bind(np.zeros((1, 3, 12, 12), np.float32), method="nope")
    with raises_exactly(pyfront.NoSuchNameError, match="nope"):
        call()

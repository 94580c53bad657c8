"""Any TorchScript model through pyfront: every input and output kind, named methods, state,
introspection; each result compared with torch.jit.load in Python on the same file."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import pyfront

import zoo
from conftest import join_all


def as_python(value):
    """A torch.jit.load result in pyfront's terms: tensors as numpy arrays."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy().copy()
    if isinstance(value, tuple):
        return tuple(as_python(v) for v in value)
    if isinstance(value, list):
        return [as_python(v) for v in value]
    if isinstance(value, dict):
        return {k: as_python(v) for k, v in value.items()}
    return value


def as_torch(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, tuple):
        return tuple(as_torch(v) for v in value)
    if isinstance(value, list):
        return [as_torch(v) for v in value]
    if isinstance(value, dict):
        return {k: as_torch(v) for k, v in value.items()}
    return value


def assert_identical(ours, ref):
    """Same structure, same Python types, arrays equal bit for bit with the same dtype."""
    assert type(ours) is type(ref), (type(ours), type(ref))
    if isinstance(ref, np.ndarray):
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        assert ours.tobytes() == ref.tobytes()
    elif isinstance(ref, (tuple, list)):
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert_identical(a, b)
    elif isinstance(ref, dict):
        assert list(ours) == list(ref)
        for key in ref:
            assert_identical(ours[key], ref[key])
    else:
        assert ours == ref


def call_both(path, method, *args):
    ours = pyfront.Model(path).run_method(method, *args)
    ref = getattr(torch.jit.load(str(path)), method)(*as_torch(args))
    assert_identical(ours, as_python(ref))
    return ours


def test_several_inputs_of_every_scalar_kind(tmp_path):
    path = zoo.save(zoo.Mixed(), tmp_path / "mixed.pt")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    result = call_both(path, "forward", x, 0.5, 3, True, "héllo")
    assert result[1] == {"n": 3, "flag": 1} and result[2][0] == "héllo"
    call_both(path, "forward", x, 2, -1, False, "")  # an int where a float is declared


def test_lists_dicts_tuples_and_optional(tmp_path):
    path = zoo.save(zoo.Containers(), tmp_path / "containers.pt")
    xs = [np.ones((2, 2), np.float32), np.full((3,), 2.0, np.float32)]
    table = {"a": np.arange(4, dtype=np.float32), "b": np.zeros((2, 3), np.float32)}
    pair = (3, np.array([1.0, 2.0], np.float32))
    call_both(path, "forward", xs, table, pair)
    result = call_both(path, "forward", xs, table, pair, np.array([7.0], np.float32))
    assert isinstance(result, tuple) and isinstance(result[0], list)
    call_both(path, "forward", [], {}, pair, None)  # empty containers get the schema's types


DTYPES = zoo.ARRAY_DTYPES


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_each_dtype_in_and_out(tmp_path, dtype):
    path = zoo.save(zoo.DoubleIt(), tmp_path / "double.pt")
    values = np.random.default_rng(0).integers(0, 100, size=(3, 4))
    x = values.astype(dtype)
    result = call_both(path, "forward", x)
    assert result.dtype == np.dtype(dtype)


def test_bfloat16_out(tmp_path):
    path = zoo.save(zoo.ToBFloat16(), tmp_path / "bf.pt")
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    result = call_both(path, "forward", x)
    assert result.dtype == np.float32  # widened exactly from bfloat16


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_bfloat16_in(tmp_path, layout):
    """ml_dtypes' bfloat16 arrays go in as bfloat16 tensors: lent when they can be (also to a
    bound call), copied when not; the bfloat16 result comes back widened exactly."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    path = zoo.save(zoo.DoubleIt(), tmp_path / "double.pt")
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4).astype(ml_dtypes.bfloat16)
    x = x.T if layout == "transposed" else x
    bits = torch.from_numpy(np.ascontiguousarray(x).view(np.uint16).copy())
    expected = torch.jit.load(str(path))(bits.view(torch.bfloat16)).float().numpy()
    model = pyfront.Model(path)
    np.testing.assert_array_equal(model.forward(x), expected)
    if layout == "transposed":  # not lendable: refused by bind, as the layout it is
        with pytest.raises(pyfront.InvalidArgumentError, match="must be C-contiguous"):
            model.bind(x)
        x = np.ascontiguousarray(x)
    call = model.bind(x)
    np.testing.assert_array_equal(call(), expected)
    np.testing.assert_array_equal(call(), expected)


def test_zero_dim_tensors_in_and_out(tmp_path):
    path = zoo.save(zoo.ZeroDim(), tmp_path / "zerodim.pt")
    result = call_both(path, "forward", np.array(3.0, np.float32), np.array(2.5, np.float32))
    assert result[0].shape == () and result[0].dtype == np.float32
    call_both(path, "forward", np.array(4, np.int64), np.array(-2, np.int64))


def test_methods_other_than_forward(tmp_path):
    torch.manual_seed(0)
    path = zoo.save(zoo.WithMethods(), tmp_path / "methods.pt")
    x = np.random.default_rng(1).random((5, 4), dtype=np.float32)
    call_both(path, "predict", x, 3)
    call_both(path, "predict", x)  # the default k
    assert call_both(path, "describe") == "linear 4 -> 3"
    model = pyfront.Model(path)
    ref = torch.jit.load(str(path))
    assert sorted(model.method_names()) == sorted(ref._c._method_names())
    for name in model.method_names():
        assert model.schema(name) == str(getattr(ref, name).schema)
    assert "int k=2" in model.schema("predict")
    assert model.parameter_count == sum(p.numel() for p in ref.parameters()) == 15
    assert not model.keeps_state


def test_parameter_count_of_resnet18(tmp_path, resnet18_path, resnet18_ref):
    import export

    plain = export.export(
        "resnet18", weights="random", output=tmp_path / "plain.pt", seed=0, plain=True
    )
    model = pyfront.Model(plain)
    assert model.parameter_count == sum(p.numel() for p in torch.jit.load(str(plain)).parameters())
    assert model.parameter_count == 11_689_512 == model.metadata["parameters"]
    assert not model.keeps_state  # in-place ReLUs on activations are not state
    frozen = pyfront.Model(resnet18_path)  # the default export: weights are constants...
    assert sum(p.numel() for p in resnet18_ref.parameters()) == 0
    assert frozen.parameter_count == 11_689_512  # ... and export recorded the count before


def test_stateful_model_keeps_state_and_resets(tmp_path):
    path = zoo.save(zoo.Counter(), tmp_path / "counter.pt")
    ours, ref = pyfront.Model(path), torch.jit.load(str(path))
    assert ours.keeps_state
    rng = np.random.default_rng(2)
    for step in [1, 2, 3, 4, 5]:
        x = rng.random(3, dtype=np.float32)
        assert_identical(ours.forward(step, x), as_python(ref(step, torch.from_numpy(x))))
    assert ours.forward(0, np.zeros(3, np.float32))[0] == 15
    assert ours.run_method("reset") is None
    ref.reset()
    x = np.ones(3, np.float32)
    assert_identical(ours.forward(7, x), as_python(ref(7, torch.from_numpy(x))))


def _from_threads(model, args, threads: int, calls: int) -> list:
    """Calls model.forward(*args) `calls` times from each of `threads` threads started
    together; the results, in no particular order."""
    results = []
    lock = threading.Lock()
    start = threading.Barrier(threads, timeout=60)

    def work():
        start.wait()
        for _ in range(calls):
            result = model.forward(*args)
            with lock:
                results.append(result)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    join_all(workers)
    return results


def test_stateful_model_from_many_threads_equals_serial_calls(tmp_path):
    """Each call reads the count, spins for about a millisecond, then writes it back plus one:
    two calls that overlap lose an update, and four threads started together overlap on
    almost every call, so without serialisation this fails every time."""
    model = pyfront.Model(zoo.save(zoo.SlowCounter(), tmp_path / "slow.pt"))
    assert model.keeps_state
    counts = _from_threads(model, (20_000,), threads=4, calls=25)
    assert sorted(counts) == list(range(1, 101))  # no lost or repeated update
    assert model.forward(0) == 101

    counter = pyfront.Model(zoo.save(zoo.Counter(), tmp_path / "counter.pt"))
    results = _from_threads(counter, (1, np.ones(3, np.float32)), threads=4, calls=50)
    assert sorted(count for count, _ in results) == list(range(1, 201))
    count, total = counter.forward(0, np.zeros(3, np.float32))
    assert count == 200 and total.tolist() == [200.0] * 3


def test_state_changed_only_in_place_is_detected(tmp_path):
    path = zoo.save(zoo.RunningSum(), tmp_path / "running.pt")
    ours, ref = pyfront.Model(path), torch.jit.load(str(path))
    assert ours.keeps_state and not ours.frozen  # freezing would make the buffer a constant
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.random(3, dtype=np.float32)
        assert_identical(ours.forward(x), as_python(ref(torch.from_numpy(x))))


def test_state_never_references_caller_memory(tmp_path):
    path = zoo.save(zoo.KeepsLastInput(), tmp_path / "last.pt")
    model = pyfront.Model(path)
    x = np.arange(4, dtype=np.float32)
    model.forward(x)
    x[:] = -1  # the caller reuses its buffer
    assert model.run_method("get_last").tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("method", ["forward", "flat", "first", "transposed", "nested"])
def test_results_never_reference_caller_memory(tmp_path, method):
    """Models returning their input or views of it: the caller then reuses its buffer, and
    the results must not change. (The C test checks the same before any copy pyfront makes.)"""
    path = zoo.save(zoo.Aliases(), tmp_path / "aliases.pt")
    model, ref = pyfront.Model(path), torch.jit.load(str(path))
    original = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected = as_python(getattr(ref, method)(torch.from_numpy(original.copy())))
    # A plain array takes the one-call path (tsrt_model_run_tensor); an ndarray subclass (a
    # np.memmap, say) is lent through tsrt_value_tensor and tsrt_model_run_method.
    for lend in (original.copy(), original.copy().view(_LentArray)):
        result = model.run_method(method, lend)
        lend[...] = -1.0
        assert_identical(result, expected)


class _LentArray(np.ndarray):
    pass


def test_in_place_models_and_read_only_inputs(tmp_path):
    path = zoo.save(zoo.InPlaceOnInput(), tmp_path / "inplace.pt")
    model = pyfront.Model(path)
    x = np.zeros(3, np.float32)
    assert model.forward(x).tolist() == [2.0, 2.0, 2.0]
    assert x.tolist() == [1.0, 1.0, 1.0]  # as torch.from_numpy would: the model wrote its input
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    assert model.forward(frozen).tolist() == [2.0, 2.0, 2.0]
    assert frozen.tolist() == [0.0, 0.0, 0.0]  # read-only memory is copied, never written


def test_extra_files(tmp_path):
    files = {
        "config.json": b'{"a": 1}',
        "labels.txt": b"chat\nchien\n",
        "blob.bin": bytes(range(256)),
    }
    path = zoo.save(zoo.DoubleIt(), tmp_path / "extra.pt", extra_files=files)
    assert pyfront.Model(path).extra_files == files
    assert pyfront.Model(path.read_bytes()).extra_files == files
    assert pyfront.Model(zoo.save(zoo.DoubleIt(), tmp_path / "none.pt")).extra_files == {}


def test_export_metadata_is_readable(resnet18_path):
    meta = pyfront.Model(resnet18_path).metadata
    assert meta["model"] == "resnet18" and len(meta["labels"]) == 1000


@pytest.mark.parametrize(
    "args, match",
    [
        ((), "expected|argument"),  # too few
        ((np.zeros(2, np.float32), 1, 2), "argument"),  # too many
        (("text",), "Tensor"),  # wrong type
        (({1, 2},), "set cannot be passed"),  # unsupported object
        ((b"bytes",), "bytes cannot be passed"),
        ((np.zeros(2, np.complex64),), "complex64"),  # unsupported dtype
        ((2**70,), "64 bits"),
    ],
)
def test_bad_arguments(tmp_path, args, match):
    path = zoo.save(zoo.DoubleIt(), tmp_path / "double.pt")
    model = pyfront.Model(path)
    with pytest.raises(pyfront.InvalidArgumentError, match=match):
        model.forward(*args)
    assert model.forward(np.ones(2, np.float32)).tolist() == [2.0, 2.0]


def test_unknown_method_and_schema(tmp_path):
    model = pyfront.Model(zoo.save(zoo.WithMethods(), tmp_path / "m.pt"))
    with pytest.raises(pyfront.NoSuchNameError, match="no method 'nope'.*predict"):
        model.run_method("nope")
    with pytest.raises(LookupError):
        model.schema("nope")

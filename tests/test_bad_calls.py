"""Every bad call on a loaded model has a defined result: the right answer or a clean error of
exactly one class that names the problem, and the model keeps working; never a crash or a hang."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

import pyfront

import zoo
from conftest import join_all, raises_exactly, reference_topk


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


@pytest.mark.parametrize(
    "which, shape, dtype, detail",
    [
        ("resnet18", (1, 3, 224), np.float32, "[1, 3, 224]"),  # wrong rank
        ("resnet18", (1, 4, 224, 224), np.float32, "3 channels"),  # wrong channel count
        ("resnet18", (2,), np.float32, "[2]"),
        ("small", (1, 3, 12, 12), np.int64, "Long[1, 3, 12, 12]"),  # a dtype the model rejects
        ("small", (1, 3, 12, 12), np.float64, "Double[1, 3, 12, 12]"),
        ("small", (12, 12), np.float32, "Float[12, 12]"),  # a rank the model rejects
        ("small", (1, 3, 2, 2), np.float32, "Float[1, 3, 2, 2]"),  # too small for the kernel
    ],
    ids=["rank", "channels", "vector", "int64", "float64", "2-d", "too-small"],
)
def test_inputs_the_model_rejects_then_it_recovers(
    request, small, images, which, shape, dtype, detail
):
    path = request.getfixturevalue("resnet18_path") if which == "resnet18" else small[0]
    good = images(1, 3, 224, 224) if which == "resnet18" else images(1, 3, 12, 12)
    model = pyfront.Model(path)
    with raises_exactly(pyfront.InferenceError) as caught:
        model.forward(np.zeros(shape, dtype))
    assert isinstance(caught.value, ValueError) and caught.value.status == "TSRT_ERR_FORWARD"
    first_line = str(caught.value).splitlines()[0]
    assert first_line.startswith("forward failed on (") and detail in first_line, first_line
    if dtype == np.float32:  # topk and infer convert to float32: the same shape fails there
        with raises_exactly(pyfront.InferenceError):
            pyfront.infer(model, np.zeros(shape, dtype))
        with raises_exactly(pyfront.InferenceError):
            model.topk(np.zeros(shape, dtype))
    assert model.topk(good, k=5).indices.shape == (1, 5)  # still works
    assert model.forward(good).shape[0] == 1


@pytest.mark.parametrize("k", [0, -3, 11, 2.5, "5", True])
def test_bad_k(small, k):
    model = pyfront.Model(small[0])
    x = np.zeros((1, 3, 12, 12), np.float32)
    with raises_exactly(pyfront.InvalidArgumentError, match="k"):
        model.topk(x, k=k)
    with raises_exactly(pyfront.InvalidArgumentError, match="k"):
        pyfront.infer(model, x, k=k)


def test_k_equal_to_class_count(small):
    top = pyfront.Model(small[0]).topk(np.zeros((1, 3, 12, 12), np.float32), k=10)
    assert sorted(top.indices[0].tolist()) == list(range(10))


@pytest.mark.parametrize("array", ["abc", [[1, 2], [3]], object()], ids=["str", "ragged", "obj"])
def test_inputs_that_are_not_numbers(small, array):
    model = pyfront.Model(small[0])
    with raises_exactly(pyfront.InvalidArgumentError, match="float32"):
        model.topk(array)
    with raises_exactly(pyfront.InvalidArgumentError, match="float32"):
        pyfront.infer(model, array)
    with raises_exactly(pyfront.InvalidArgumentError, match="Tensor|cannot be passed"):
        model.forward(array)  # forward passes values as they are: the schema wants a Tensor


def test_bad_method_calls(small):
    model = pyfront.Model(small[0])
    with raises_exactly(pyfront.NoSuchNameError):
        model.run_method("no_such_method")
    with raises_exactly(pyfront.InvalidArgumentError):
        model.run_method(b"forward", np.zeros((1, 3, 12, 12), np.float32))
    with raises_exactly(pyfront.InvalidArgumentError, match="argument"):
        model.forward(np.zeros((1, 3, 12, 12), np.float32), np.zeros(1, np.float32))
    with raises_exactly(pyfront.NoSuchNameError):
        model.schema("no_such_method")


def test_every_call_on_a_closed_model_raises(small):
    model = pyfront.Model(small[0])
    x = np.zeros((1, 3, 12, 12), np.float32)
    model.forward(x)
    extra = model.extra_files
    model.close()
    assert model.closed and "closed" in repr(model)
    calls = [
        lambda: model.forward(x),
        lambda: model.run_method("forward", x),
        lambda: model.forward(x.astype(np.float64)),
        lambda: model.topk(x),
        lambda: pyfront.infer(model, x),
        model.method_names,
        lambda: model.schema(),
        lambda: model.parameter_count,
        lambda: model.keeps_state,
        lambda: model.frozen,
        lambda: model.fused,
    ]
    for call in calls:
        with raises_exactly(pyfront.ModelClosedError):
            call()
    assert model.extra_files == extra  # plain Python data, still readable
    model.close()  # closing twice is harmless
    with model:  # entering a closed model is allowed; using it is not
        pass


def test_two_threads_failing_at_once_each_get_their_own_message(small):
    model = pyfront.Model(small[0])
    shapes = {"a": (1, 3, 17), "b": (1, 5, 31, 32)}
    barrier = threading.Barrier(2, timeout=60)
    wrong = []

    def fail_repeatedly(name):
        barrier.wait()
        for _ in range(40):
            try:
                model.forward(np.zeros(shapes[name], np.float32))
                wrong.append((name, "no error"))
            except pyfront.InferenceError as error:
                if str(list(shapes[name])).replace(" ", "") not in str(error).splitlines()[
                    0
                ].replace(" ", ""):
                    wrong.append((name, str(error)[:200]))

    threads = [threading.Thread(target=fail_repeatedly, args=(n,)) for n in shapes]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert wrong == []


def test_close_while_other_threads_run(resnet18_path, images):
    model = pyfront.Model(resnet18_path)
    batch = images(1, 3, 224, 224)
    outcomes = []
    started = threading.Event()

    def run():
        for _ in range(20):
            try:
                model.forward(batch)
                outcomes.append("ok")
            except pyfront.ModelClosedError:
                outcomes.append("closed")
                return
            finally:
                started.set()

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(120)
    model.close()  # waits for the call in flight, then frees
    join_all([worker])
    assert outcomes[0] == "ok" and outcomes[-1] == "closed"


class SlowChain(torch.nn.Module):
    """`steps` dependent matrix products: a call that stays in flight as long as asked."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(256, 256) / 16)

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        for _ in range(steps):
            x = torch.tanh(x @ self.weight)
        return x


def _close_during_a_call(path, x, steps):
    """Starts forward(x, steps) in a thread, closes the model while it runs; the call's result
    and the times the call ended, close began and close returned."""
    model = pyfront.Model(path)
    entering = threading.Event()
    ended: list = []

    def call():
        entering.set()
        try:
            ended.append((model.forward(x, steps), time.perf_counter()))
        except pyfront.ModelClosedError:
            ended.append((None, time.perf_counter()))

    worker = threading.Thread(target=call)
    worker.start()
    assert entering.wait(60)
    time.sleep(0.15)  # the call is in libtsrt by now (cffi released the GIL)
    closing = time.perf_counter()
    closed: list = []
    # close runs in a daemon thread too, so that a close that never returns fails the test
    # instead of hanging the suite
    closer = threading.Thread(
        target=lambda: (model.close(), closed.append(time.perf_counter())), daemon=True
    )
    closer.start()
    join_all([closer, worker], timeout=60)
    result, call_ended = ended[0]
    return result, call_ended, closing, closed[0]


def test_close_returns_only_after_the_call_in_flight_ends(tmp_path):
    """close() must wait for calls in flight: it returns after the running call ended, and that
    call still gets torch's answer (close frees the weights as soon as it returns)."""
    torch.manual_seed(0)
    path = zoo.save(SlowChain(), tmp_path / "slow.pt")
    x = np.random.default_rng(0).standard_normal((64, 256), dtype=np.float32)
    probe = pyfront.Model(path)
    probe.forward(x, 50)  # the first calls profile and optimise the graph
    probe.forward(x, 50)
    start = time.perf_counter()
    probe.forward(x, 50)
    steps = max(50, int(50 * 0.6 / (time.perf_counter() - start)))  # a call of about 0.6 s
    for _ in range(4):
        result, call_ended, closing, closed = _close_during_a_call(path, x, steps)
        if result is not None and call_ended > closing:
            break  # close ran while the call was in flight: what this test is about
        steps *= 3  # the call was over (or not yet in) when close ran: a longer one
    else:
        pytest.fail("no call was in flight when close ran, in four tries")
    # The call's thread notes its end time only once it has the GIL back, a few ms after close
    # could return; close not waiting would return about 0.45 s before the call ends.
    early = call_ended - closed
    assert early < 0.1, f"close returned {early:.3f} s before the call in flight ended"
    with torch.no_grad():
        expected = torch.jit.load(str(path))(torch.from_numpy(x), steps).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)

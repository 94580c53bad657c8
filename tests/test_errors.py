"""Bad input gives a clean exception that names the problem, and the process keeps working."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import pyfront


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(pyfront.ModelNotFoundError) as caught:
        pyfront.Model(missing)
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, pyfront.ModelLoadError)
    assert str(missing) in str(caught.value) and caught.value.filename == str(missing)
    with pytest.raises(FileNotFoundError):
        pyfront.infer(missing, np.zeros((1, 3, 224, 224)))


def test_directory(tmp_path):
    with pytest.raises(pyfront.ModelLoadError, match="is a directory") as caught:
        pyfront.Model(tmp_path)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"def forward(x): return x\n", "as a TorchScript module"),
    (None, "as a TorchScript module"),  # a truncated real model
], ids=["empty", "text", "truncated"])
def test_files_that_are_not_torchscript(tmp_path, resnet18_path, content, reason):
    path = tmp_path / "bad.pt"
    path.write_bytes(content if content is not None else resnet18_path.read_bytes()[:100_000])
    with pytest.raises(pyfront.ModelLoadError, match=reason) as caught:
        pyfront.Model(path)
    assert str(path) in str(caught.value)
    assert "Exception raised from" not in str(caught.value)  # no C++ backtrace


def test_garbage_buffer():
    with pytest.raises(pyfront.ModelLoadError, match="buffer"):
        pyfront.Model(b"\x00" * 1000)


@pytest.mark.parametrize("shape, detail", [
    ((1, 3, 224), "[1, 3, 224]"),           # wrong rank
    ((1, 4, 224, 224), "3 channels"),       # wrong channel count
    ((2,), "[2]"),
], ids=["rank", "channels", "vector"])
def test_wrong_input_shape_then_recovers(resnet18_path, images, shape, detail):
    model = pyfront.Model(resnet18_path)
    with pytest.raises(pyfront.InferenceError) as caught:
        model.forward(np.zeros(shape, np.float32))
    assert isinstance(caught.value, ValueError)
    first_line = str(caught.value).splitlines()[0]
    assert detail in first_line, first_line
    with pytest.raises(ValueError):
        pyfront.infer(model, np.zeros(shape, np.float32))
    assert model.topk(images(1, 3, 224, 224), k=5).indices.shape == (1, 5)  # still works


@pytest.mark.parametrize("k", [0, -1, 1001, 2.5, "5", True])
def test_bad_k(resnet18_path, images, k):
    with pytest.raises(pyfront.InvalidArgumentError, match="k"):
        pyfront.infer(resnet18_path, images(1, 3, 224, 224), k=k)


@pytest.mark.parametrize("array", ["abc", [[1, 2], [3]], object()], ids=["str", "ragged", "obj"])
def test_inputs_that_are_not_numbers(resnet18_path, array):
    model = pyfront.Model(resnet18_path)
    with pytest.raises(pyfront.InvalidArgumentError, match="float32"):
        model.topk(array)
    with pytest.raises(pyfront.InvalidArgumentError, match="float32"):
        pyfront.infer(model, array)
    with pytest.raises(pyfront.InvalidArgumentError, match="Tensor|cannot be passed"):
        model.forward(array)  # forward passes values as they are: the schema wants a Tensor


def test_closed_model(resnet18_path, images):
    with pyfront.Model(resnet18_path) as model:
        model.forward(images(1, 3, 224, 224))
    assert model.closed and "closed" in repr(model)
    with pytest.raises(pyfront.ModelClosedError):
        model.forward(images(1, 3, 224, 224))
    with pytest.raises(pyfront.ModelClosedError):
        pyfront.infer(model, images(1, 3, 224, 224))
    model.close()  # closing twice is harmless


def test_devices(resnet18_path):
    with pytest.raises(pyfront.InvalidArgumentError, match="tpu"):
        pyfront.Model(resnet18_path, device="tpu")
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        assert pyfront.Model(resnet18_path, device="cuda").device == "cuda:0"
    else:
        with pytest.raises(pyfront.DeviceError, match="CUDA is not available"):
            pyfront.Model(resnet18_path, device="cuda:0")
    assert pyfront.Model(resnet18_path, device="cpu").device == "cpu"


def test_thread_count_setting():
    before = pyfront.get_num_threads()
    try:
        pyfront.set_num_threads(1)
        assert pyfront.get_num_threads() == 1
        with pytest.raises(pyfront.InvalidArgumentError, match="at least 1"):
            pyfront.set_num_threads(0)
    finally:
        pyfront.set_num_threads(before)


def test_two_threads_failing_at_once_each_get_their_own_message(resnet18_path):
    model = pyfront.Model(resnet18_path)
    shapes = {"a": (1, 3, 17), "b": (1, 5, 31, 32)}
    barrier = threading.Barrier(2)
    wrong = []

    def fail_repeatedly(name):
        barrier.wait()
        for _ in range(40):
            try:
                model.forward(np.zeros(shapes[name], np.float32))
            except pyfront.InferenceError as error:
                if str(list(shapes[name])).replace(" ", "") not in \
                        str(error).splitlines()[0].replace(" ", ""):
                    wrong.append((name, str(error)[:200]))

    threads = [threading.Thread(target=fail_repeatedly, args=(n,)) for n in shapes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
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
    started.wait()
    model.close()  # waits for the call in flight, then frees
    worker.join()
    assert outcomes[0] == "ok" and outcomes[-1] == "closed"

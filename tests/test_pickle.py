"""Pickling a model pickles how to load it: small, loaded once per process, refused when the file
changed; results after the trip equal torch.jit.load's on the same file."""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import pyfront
from pyfront import _recipe

import zoo
from conftest import reference_topk


@pytest.fixture
def small_path(tmp_path):
    torch.manual_seed(0)
    return zoo.save(zoo.SmallNet(), tmp_path / "small.pt")


def run_python(code: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_pickle_is_a_recipe_of_a_few_hundred_bytes(resnet18_path):
    model = pyfront.Model(resnet18_path, warmup=[(2, 3, 224, 224)], warmup_runs=1)
    data = pickle.dumps(model)
    assert len(data) < 1000 < os.path.getsize(resnet18_path)
    recipe = model.__reduce__()[1][0]
    assert recipe.path == os.path.abspath(resnet18_path)
    assert recipe.size == os.path.getsize(resnet18_path) and len(recipe.sha256) == 64
    assert recipe.options == {"warmup": [(2, 3, 224, 224)], "warmup_runs": 1}


def test_round_trip_in_another_process_equals_torch_jit_load(small_path, tmp_path):
    model = pyfront.Model(small_path, freeze=False, warmup=[])
    (tmp_path / "model.pickle").write_bytes(pickle.dumps(model))
    x = np.random.default_rng(1).random((4, 3, 16, 16), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    result = run_python(
        """
        import pickle, sys, numpy as np
        data = open(sys.argv[1], "rb").read()
        first, second = pickle.loads(data), pickle.loads(data)
        assert first is second, "one loaded copy per process"
        assert not first.frozen, "the options travel: freeze=False"
        np.save(sys.argv[2], first.forward(np.load(sys.argv[3])))
        print("torch" in sys.modules)
    """,
        tmp_path / "model.pickle",
        tmp_path / "out.npy",
        tmp_path / "x.npy",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"  # the unpickling process never imported torch
    _, _, reference = reference_topk(torch.jit.load(str(small_path)), x, 3)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), reference)


def test_a_changed_file_is_refused(small_path, tmp_path):
    data = pickle.dumps(pyfront.Model(small_path))
    torch.manual_seed(1)
    zoo.save(zoo.SmallNet(), tmp_path / "other.pt")
    os.replace(tmp_path / "other.pt", small_path)  # a different model under the same name
    with pytest.raises(
        pyfront.ModelChangedError,
        match=f"{small_path} on host .* changed since the model was pickled",
    ):
        pickle.loads(data)


def test_pickling_after_the_file_changed_is_refused(small_path):
    model = pyfront.Model(small_path)
    with open(small_path, "ab") as file:
        file.write(b"\0")
    with pytest.raises(pyfront.ModelChangedError, match="changed or disappeared since this"):
        pickle.dumps(model)


def test_a_copy_with_a_new_modification_time_is_the_same_model(small_path, images):
    model = pyfront.Model(small_path)
    data = pickle.dumps(model)
    shutil.copy(small_path, str(small_path) + ".copy")  # as when copied to another machine
    os.replace(str(small_path) + ".copy", small_path)
    os.utime(small_path, ns=(0, 10**18))
    x = images(2, 3, 16, 16)
    np.testing.assert_array_equal(pickle.loads(data).forward(x), model.forward(x))


def test_a_missing_file_names_the_path_and_the_host(small_path):
    data = pickle.dumps(pyfront.Model(small_path))
    os.remove(small_path)
    with pytest.raises(pyfront.ModelNotFoundError) as caught:
        pickle.loads(data)
    assert f"{small_path} does not exist on host {socket.gethostname()}" in str(caught.value)
    assert caught.value.filename == str(small_path)


def test_a_model_loaded_from_bytes_carries_its_bytes(small_path, images):
    source = bytearray(small_path.read_bytes())
    model = pyfront.Model(source)
    source[:] = b"\0" * len(source)  # the caller reuses its buffer; the model is unchanged
    data = pickle.dumps(model)
    os.remove(small_path)
    x = images(2, 3, 16, 16)
    restored = pickle.loads(data)
    assert restored.path is None and restored is pickle.loads(data)
    np.testing.assert_array_equal(restored.forward(x), model.forward(x))


def test_models_that_keep_state_are_not_shared(tmp_path):
    path = zoo.save(zoo.Counter(), tmp_path / "counter.pt")
    data = pickle.dumps(pyfront.Model(path))
    first, second = pickle.loads(data), pickle.loads(data)
    assert first.keeps_state and first is not second
    x = np.ones(3, np.float32)
    assert first.forward(1, x)[0] == 1 and first.forward(1, x)[0] == 2
    assert second.forward(1, x)[0] == 1  # its own state, not first's


def test_a_closed_shared_copy_is_loaded_again(small_path, images):
    data = pickle.dumps(pyfront.Model(small_path))
    first = pickle.loads(data)
    first.close()
    second = pickle.loads(data)
    assert second is not first and not second.closed
    second.forward(images(1, 3, 16, 16))


def test_isolated_model_round_trip(small_path, images):
    with pyfront.IsolatedModel(small_path, timeout=60, freeze=False) as model:
        restored = pickle.loads(pickle.dumps(model))
        try:
            assert isinstance(restored, pyfront.IsolatedModel) and restored is not model
            assert not restored.frozen
            x = images(2, 3, 16, 16)
            _, _, reference = reference_topk(torch.jit.load(str(small_path)), x, 3)
            np.testing.assert_allclose(restored.forward(x), reference, rtol=0, atol=1e-6)
        finally:
            restored.close()


def test_every_constructor_argument_is_recorded():
    class Loader:
        @_recipe.records_load
        def __init__(self, source, device="cpu", *, precision="fp32", **more):
            self.seen = (source, device, precision, more)

    shapes = (shape for shape in [(1, 3, 8, 8)])  # an iterator is used up by the first load
    loader = Loader(b"bytes", "cuda", precision="bf16", warmup=shapes)
    assert loader._load_record.options == {
        "device": "cuda",
        "precision": "bf16",
        "warmup": [(1, 3, 8, 8)],
    }
    assert loader.seen == (b"bytes", "cuda", "bf16", {"warmup": [(1, 3, 8, 8)]})

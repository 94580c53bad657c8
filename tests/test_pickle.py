"""Pickling a model pickles how to load it: small, loaded once per process, refused when the file
changed; results after the trip equal torch.jit.load's on the same file."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pyfront
from pyfront import _recipe
from pyfront.isolated import IsolatedModel

import zoo
from conftest import reference_topk
from subclassed_models import Labelled, LabelledIsolated

LABELS = [f"class {index}" for index in range(10)]


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


def test_a_subclass_comes_back_as_itself_without_its_constructor(small_path, images):
    model = Labelled(LABELS, small_path, freeze=False, warmup=[])
    model.best_labels(images(1, 3, 16, 16))
    recipe = model.__reduce__()[1][1]
    assert recipe.kind == "Model" and recipe.options == {"freeze": False, "warmup": []}
    data = pickle.dumps(model)
    constructed = Labelled.constructed
    first, second = pickle.loads(data), pickle.loads(data)
    assert Labelled.constructed == constructed
    assert type(first) is Labelled and first.labels == LABELS and first.calls == 1
    assert not first.frozen  # loaded with the base's options
    first.labels[0] = "changed"
    assert second is not first and second.labels == LABELS  # no state shared between copies
    x = images(4, 3, 16, 16)
    _, _, reference = reference_topk(torch.jit.load(str(small_path)), x, 3)
    np.testing.assert_array_equal(second.forward(x), reference)
    assert second.best_labels(x) == [LABELS[index] for index in reference.argmax(1)]
    assert pickle.loads(pickle.dumps(second)).calls == 2  # a restored copy pickles again


def test_a_subclass_round_trips_through_another_process(small_path, tmp_path, monkeypatch):
    model = Labelled(LABELS, small_path, freeze=False, warmup=[])
    (tmp_path / "model.pickle").write_bytes(pickle.dumps(model))
    x = np.random.default_rng(2).random((4, 3, 16, 16), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    tests = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    result = run_python(
        """
        import pickle, sys, numpy as np
        from subclassed_models import Labelled
        data = open(sys.argv[1], "rb").read()
        first, second = pickle.loads(data), pickle.loads(data)
        assert type(first) is Labelled and first is not second
        assert Labelled.constructed == 0 and not first.frozen
        x = np.load(sys.argv[3])
        np.save(sys.argv[2], first.forward(x))
        for label in first.best_labels(x):
            print(label)
    """,
        tmp_path / "model.pickle",
        tmp_path / "out.npy",
        tmp_path / "x.npy",
    )
    assert result.returncode == 0, result.stderr
    _, _, reference = reference_topk(torch.jit.load(str(small_path)), x, 3)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), reference)
    assert result.stdout.splitlines() == [LABELS[index] for index in reference.argmax(1)]


def test_a_subclass_from_a_changed_file_is_refused(small_path, tmp_path):
    data = pickle.dumps(Labelled(LABELS, small_path))
    torch.manual_seed(1)
    zoo.save(zoo.SmallNet(), tmp_path / "other.pt")
    os.replace(tmp_path / "other.pt", small_path)
    with pytest.raises(pyfront.ModelChangedError, match="changed since the model was pickled"):
        pickle.loads(data)


def test_a_subclass_with_an_unpicklable_attribute_fails_as_pickle_does(small_path):
    model = Labelled(LABELS, small_path)
    vars(model)["lock"] = threading.Lock()  # set by some method of the subclass, say
    with pytest.raises(TypeError, match="cannot pickle '_thread.lock' object"):
        pickle.dumps(model)


def test_a_subclass_loaded_from_bytes_carries_its_bytes(small_path, images):
    model = Labelled(LABELS, small_path.read_bytes())
    data = pickle.dumps(model)
    os.remove(small_path)
    restored = pickle.loads(data)
    assert type(restored) is Labelled and restored.path is None and restored.labels == LABELS
    assert restored is not pickle.loads(data)
    x = images(2, 3, 16, 16)
    np.testing.assert_array_equal(restored.forward(x), model.forward(x))


def test_a_pickle_naming_a_class_outside_pyfront_is_refused(small_path):
    model = Labelled(LABELS, small_path)
    recipe = model.__reduce__()[1][1]
    with pytest.raises(pyfront.ModelLoadError, match="not a subclass of Model"):
        _recipe.restore_subclass(dict, recipe)


def test_an_isolated_model_subclass_round_trip(small_path, images):
    with LabelledIsolated(small_path, LABELS) as model:
        restored = pickle.loads(pickle.dumps(model))
        try:
            assert type(restored) is LabelledIsolated and restored.labels == LABELS
            assert not restored.frozen
            x = images(2, 3, 16, 16)
            _, _, reference = reference_topk(torch.jit.load(str(small_path)), x, 3)
            np.testing.assert_allclose(restored.forward(x), reference, rtol=0, atol=1e-6)
            assert restored.best_labels(x) == [LABELS[index] for index in reference.argmax(1)]
        finally:
            restored.close()


def test_every_constructor_argument_is_recorded():
    class Loader:
        @_recipe.records_load
        def __init__(self, source, device="cpu", *, precision="fp32", **more):
            self.seen = (source, device, precision, more)

    shapes = (shape for shape in [(1, 3, 8, 8)])  # an iterator is used up by the first load
    loader = Loader(b"bytes", "cuda", precision="bf16", warmup=shapes)
    assert vars(loader)["_load_record"].options == {
        "device": "cuda",
        "precision": "bf16",
        "warmup": [(1, 3, 8, 8)],
    }
    assert loader.seen == (b"bytes", "cuda", "bf16", {"warmup": [(1, 3, 8, 8)]})


# ---------------------------------------------------------------- tampered recipes

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=64),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
OPTION_VALUES = st.one_of(
    ANY_VALUE,
    st.sampled_from(["cpu", "cuda", "fp32", "bf16", "auto", "nonsense"]),
    st.lists(st.lists(st.integers(-2, 300), max_size=5), max_size=3),  # warm-up shapes
)
OPTION_NAMES = st.one_of(
    st.sampled_from(
        ["device", "precision", "warmup", "warmup_runs", "freeze", "debug_info", "timeout"]
    ),
    st.text(max_size=12),
)


@settings(
    max_examples=int(os.environ.get("PYFRONT_PROPERTY_EXAMPLES", "0")) or 150,
    derandomize=not os.environ.get("PYFRONT_PROPERTY_EXAMPLES"),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_tampered_recipe_is_a_clean_error_or_the_same_model(small_path, images, data):
    """Any field of a pickled recipe replaced (kind, options, path, fingerprint, bytes,
    version): unpickling gives a PyfrontError, or a model that answers as torch.jit.load does
    on the file, never another exception or a crash."""
    recipe = _recipe.recipe_of(pyfront.Model(small_path))
    content = small_path.read_bytes()
    fields = {  # values of the right type first, any value after
        "kind": st.one_of(st.sampled_from(["Model", "IsolatedModel", "Other"]), ANY_VALUE),
        "options": st.one_of(st.dictionaries(OPTION_NAMES, OPTION_VALUES, max_size=3), ANY_VALUE),
        "path": st.one_of(
            st.sampled_from([str(small_path), str(small_path.parent), "/dev/null", "x.pt"]),
            ANY_VALUE,
        ),
        "size": st.one_of(st.integers(-1, 2 * len(content)), ANY_VALUE),
        "mtime_ns": st.one_of(st.integers(-(2**64), 2**64), ANY_VALUE),
        "sha256": st.one_of(st.just(recipe.sha256), st.text("0123456789abcdef"), ANY_VALUE),
        "data": st.one_of(st.sampled_from([content, content[:100], content + b"\0"]), ANY_VALUE),
        "host": ANY_VALUE,
        "version": st.one_of(st.integers(-3, 3), ANY_VALUE),
    }
    changed = data.draw(st.sets(st.sampled_from(sorted(fields)), min_size=1, max_size=3))
    tampered = dataclasses.replace(recipe, **{name: data.draw(fields[name]) for name in changed})
    try:
        model = tampered.load()
    except pyfront.PyfrontError as error:
        event(f"refused: {type(error).__name__}")
        return
    event(f"loaded: {type(model).__name__}")
    x = images(2, 3, 8, 8)
    with torch.inference_mode():
        expected = torch.jit.load(str(small_path))(torch.from_numpy(x)).numpy()
    try:
        got = model.forward(x)
    finally:
        if isinstance(model, IsolatedModel):
            model.close()
    np.testing.assert_array_equal(got, expected)

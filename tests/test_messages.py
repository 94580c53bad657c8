"""The mistakes newcomers make end in one message that names the problem and the way out, the
same from C, Python and the command line: files that are not TorchScript programs, arguments
that do not fit a method, inputs of the wrong shape."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

import pyfront
from pyfront._ffi import C, ffi, lib

import zoo
from conftest import BUILD

PYFRONT = os.path.join(os.path.dirname(sys.executable), "pyfront")
TS_INFER = BUILD / "ts-infer"


def run(*args):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)


def load_error(source) -> pyfront.ModelLoadError:
    with pytest.raises(pyfront.ModelLoadError) as caught:
        pyfront.Model(source)
    return caught.value


# -- files that are not TorchScript programs ------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """What torch.save writes for the usual objects, and a torch.export archive."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    torch.save(model.state_dict(), folder / "state_dict.pth")
    torch.save(model, folder / "module.pth")
    torch.save({"model": model.state_dict(), "epoch": 3}, folder / "checkpoint.pth")
    torch.save(model.fc.state_dict(), folder / "legacy.pth", _use_new_zipfile_serialization=False)
    program = torch.export.export(zoo.DoubleIt(), (torch.ones(2),))
    torch.export.save(program, folder / "double.pt2")
    return folder


@pytest.mark.parametrize(
    "name, holding",
    [
        ("state_dict.pth", "holding a state_dict"),
        ("module.pth", "holding a pickled torchvision.models.resnet.ResNet"),
        ("checkpoint.pth", "holding a dict"),
        ("legacy.pth", "legacy format"),
    ],
)
def test_a_torch_save_checkpoint_says_what_it_is_and_how_to_export(checkpoints, name, holding):
    path = checkpoints / name
    # torch.jit.load rejects these files too: they are not TorchScript programs.
    with pytest.raises(RuntimeError):
        torch.jit.load(str(path))
    message = str(load_error(path))
    assert message.startswith(
        f"cannot load '{path}': it is a PyTorch checkpoint written by torch.save"
    )
    assert holding in message and "not a TorchScript program" in message
    assert "torch.jit.script(model).save(" in message
    assert f"pyfront export --model NAME --weights {path}" in message
    assert "miniz" not in message and "corrupted" not in message and "\n" not in message


def test_a_checkpoint_in_memory_gets_the_same_message(checkpoints):
    message = str(load_error((checkpoints / "state_dict.pth").read_bytes()))
    assert message.startswith("cannot load the buffer: it is a PyTorch checkpoint")
    assert "--weights FILE" in message


def test_a_torch_export_archive_says_so(checkpoints):
    message = str(load_error(checkpoints / "double.pt2"))
    assert "torch.export archive (.pt2" in message and "torch.jit.script(model).save(" in message
    assert "miniz" not in message


def test_an_onnx_model_says_so(tmp_path):
    # The first bytes of an ONNX ModelProto as exporters write it: ir_version (field 1, a
    # varint), then producer_name (field 2, a string) and the rest of the message.
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x09\x12\x07pytorch\x1a\x062.14.1" + bytes(200))
    message = str(load_error(path))
    assert "it is an ONNX model" in message and "ONNX Runtime" in message
    assert "torch.jit.script(model).save(" in message and "miniz" not in message


def test_the_command_line_and_c_give_the_library_message(checkpoints):
    path = checkpoints / "state_dict.pth"
    expected = str(load_error(path))
    assert "it is a PyTorch checkpoint" in expected
    for command in ("info", "classify"):
        args = ("info", path) if command == "info" else ("classify", "x.jpg", "--model", path)
        result = run(PYFRONT, *args)
        assert result.returncode == 2
        assert result.stderr == f"pyfront {command}: {expected}\n"
    result = run(TS_INFER, path)  # the library's own message, printed by a C program
    assert result.returncode == 1 and expected in result.stderr
    out = ffi.new("tsrt_model **")
    assert lib().tsrt_model_load(str(path).encode(), ffi.NULL, out) == C.TSRT_ERR_BAD_MODEL
    assert ffi.string(lib().tsrt_last_error()).decode() == expected and out[0] == ffi.NULL


# -- arguments that do not fit a method ------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calls")
    torch.manual_seed(0)
    return {
        name: zoo.save(module, folder / f"{name}.pt")
        for name, module in [
            ("mixed", zoo.Mixed()),
            ("methods", zoo.WithMethods()),
            ("containers", zoo.Containers()),
            ("small", zoo.SmallNet()),
        ]
    }


@pytest.mark.parametrize(
    "model, method, args, reason",
    [
        ("resnet18", "forward", ("abc",), "argument 1 (x) must be Tensor, got str 'abc'"),
        (
            "mixed",
            "forward",
            (np.ones(2, np.float32), "a", 1, True, "x"),
            "argument 2 (scale) must be float, got str 'a'",
        ),
        (
            "mixed",
            "forward",
            (np.ones(2, np.float32),),
            "argument 2 (scale) is missing: it takes 5 arguments, got 1",
        ),
        (
            "mixed",
            "forward",
            (np.ones(2, np.float32), 1.0, 1, True, "x", 6),
            "it takes 5 arguments, got 6",
        ),
        (
            "methods",
            "predict",
            (np.ones((2, 4), np.float32), 2.5),
            "argument 2 (k) must be int, got float 2.5",
        ),
        ("methods", "predict", (), "argument 1 (x) is missing: it takes 1 to 2 arguments, got 0"),
        (
            "containers",
            "forward",
            ([1], {}, (1, np.ones(1, np.float32))),
            "argument 1 (xs) must be List[Tensor], got List[int]",
        ),
        (
            "containers",
            "forward",
            ([], {"a": 1}, (1, np.ones(1, np.float32))),
            "argument 2 (table) must be Dict[str, Tensor], got Dict[str, int]",
        ),
    ],
    ids=["tensor", "float", "missing", "extra", "int", "missing-with-default", "list", "dict"],
)
def test_a_wrong_argument_is_named_with_what_was_given_and_expected(
    models, resnet18_path, model, method, args, reason
):
    path = resnet18_path if model == "resnet18" else models[model]
    reference = torch.jit.load(str(path))
    torch_args = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises((RuntimeError, TypeError)):  # torch rejects the call too
        getattr(reference, method)(*torch_args)
    with pytest.raises(pyfront.InvalidArgumentError) as caught:
        pyfront.Model(path).run_method(method, *args)
    message = str(caught.value)
    assert message.startswith(f"bad arguments for {method}: {reason} (schema: {method}(")
    assert "mangle" not in message and "__torch__" not in message and "\n" not in message


def test_the_schema_in_the_message_reads_like_python(models, resnet18_path):
    with pytest.raises(pyfront.InvalidArgumentError) as caught:
        pyfront.Model(resnet18_path).forward("abc")
    assert str(caught.value).endswith("(schema: forward(x: Tensor) -> Tensor)")
    with pytest.raises(pyfront.InvalidArgumentError) as caught:
        pyfront.Model(models["methods"]).run_method("predict")
    assert "predict(x: Tensor, k: int = 2) -> Tuple[Tensor, Tensor])" in str(caught.value)


# -- inputs of the wrong shape ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 224, 224), (1, 3, 224), (1, 1, 224, 224)])
def test_a_wrong_shape_names_the_shape_the_file_declares(resnet18_path, resnet18_ref, shape):
    x = np.zeros(shape, np.float32)
    with pytest.raises(RuntimeError):
        resnet18_ref(torch.from_numpy(x))  # torch rejects it too
    model = pyfront.Model(resnet18_path)
    for _ in range(3):  # the fused model fails differently on later calls: same ending
        with pytest.raises(pyfront.InferenceError) as caught:
            model.forward(x)
        message = str(caught.value)
        assert message.startswith(f"forward failed on (Float{list(shape)}): ")
        assert message.endswith("(the model's file gives its input shape as [1, 3, 224, 224])")
        assert "\n" not in message and "Traceback" not in message


def test_the_traceback_comes_with_debug_info(resnet18_path, models):
    x = np.zeros((1, 3, 224), np.float32)
    with pytest.raises(pyfront.InferenceError) as caught:
        pyfront.Model(resnet18_path, debug_info=True).forward(x)
    first, _, rest = str(caught.value).partition("\n\n")
    assert "gives its input shape as [1, 3, 224, 224]" in first
    assert "Traceback of TorchScript" in rest
    # A file that declares no input shape: the message does not invent one.
    with pytest.raises(pyfront.InferenceError) as caught:
        pyfront.Model(models["small"]).forward(np.zeros((1, 3, 2, 2), np.float32))
    assert "input shape" not in str(caught.value) and "\n" not in str(caught.value)


# -- the command line ------------------------------------------------------------------------


def test_command_line_errors_are_one_message_and_debug_adds_tracebacks(tmp_path, models):
    image = tmp_path / "image.png"
    from PIL import Image

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    # Metadata the preprocessing cannot read: an error pyfront has no message of its own for.
    broken = zoo.save(
        zoo.SmallNet(),
        tmp_path / "broken.pt",
        extra_files={"pyfront/meta.json": '{"preprocessing": {"crop": ["wide"]}}'},
    )
    plain = run(PYFRONT, "classify", image, "--model", broken)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("pyfront classify: ValueError: ")
    assert "--debug" in plain.stderr and len(plain.stderr.splitlines()) == 2
    debug = run(PYFRONT, "--debug", "classify", image, "--model", broken)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    # A model that fails on the images: its TorchScript traceback only with --debug.
    tiny = zoo.save(
        zoo.SmallNet(),
        tmp_path / "tiny.pt",
        extra_files={"pyfront/meta.json": '{"preprocessing": {"resize": [2], "crop": [2]}}'},
    )
    failed = run(PYFRONT, "classify", image, "--model", tiny)
    assert failed.returncode == 2 and "forward failed on (Float[1, 3, 2, 2])" in failed.stderr
    assert "Traceback" not in failed.stderr
    traced = run(PYFRONT, "classify", image, "--model", tiny, "--debug")
    assert traced.returncode == 2 and "Traceback of TorchScript" in traced.stderr


def test_info_on_a_file_without_extra_files(models):
    result = run(PYFRONT, "info", models["small"])
    assert result.returncode == 0, result.stderr
    assert "extra files\n  (none)\n" in result.stdout and "0 bytes" not in result.stdout

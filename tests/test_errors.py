"""Loading fails cleanly: every status code has its one exception class, and each bad file,
path or option gets that class (never a relative of it) with a message that names the problem."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import pyfront
from pyfront._bindings import check
from pyfront._ffi import C, ffi, lib

import zoo
from conftest import ROOT, raises_exactly

HEADER = ROOT / "shim" / "include" / "tsrt.h"

# The one exception class of each status code of tsrt.h.
EXCEPTION_OF_STATUS = {
    "TSRT_ERR_INVALID_ARGUMENT": pyfront.InvalidArgumentError,
    "TSRT_ERR_NOT_FOUND": pyfront.ModelNotFoundError,
    "TSRT_ERR_IO": pyfront.ModelLoadError,
    "TSRT_ERR_BAD_MODEL": pyfront.ModelLoadError,
    "TSRT_ERR_DEVICE": pyfront.DeviceError,
    "TSRT_ERR_FORWARD": pyfront.InferenceError,
    "TSRT_ERR_UNSUPPORTED": pyfront.UnsupportedOutputError,
    "TSRT_ERR_BUFFER_TOO_SMALL": pyfront.BufferTooSmallError,
    "TSRT_ERR_OUT_OF_MEMORY": pyfront.OutOfMemoryError,
    "TSRT_ERR_INTERNAL": pyfront.InternalError,
    "TSRT_ERR_NO_SUCH_NAME": pyfront.NoSuchNameError,
    "TSRT_ERR_TOO_LARGE": pyfront.ModelLoadError,
    "TSRT_ERR_CLOSED": pyfront.ModelClosedError,
    "TSRT_ERR_BAD_LIBRARY": pyfront.LibraryLoadError,
}

# What each class also is, so that plain-Python handlers (except ValueError) catch it.
PYTHON_BASES = {
    pyfront.ModelNotFoundError: (pyfront.ModelLoadError, FileNotFoundError),
    pyfront.InvalidArgumentError: (ValueError,),
    pyfront.BufferTooSmallError: (pyfront.InvalidArgumentError, ValueError),
    pyfront.InferenceError: (ValueError,),
    pyfront.UnsupportedOutputError: (TypeError,),
    pyfront.NoSuchNameError: (LookupError,),
    pyfront.ModelClosedError: (ValueError,),
    pyfront.OutOfMemoryError: (MemoryError,),
    pyfront.LibraryNotFoundError: (pyfront.LibraryLoadError, FileNotFoundError),
}


def header_statuses() -> dict:
    enum = re.search(r"typedef enum tsrt_status \{(.*?)\} tsrt_status;", HEADER.read_text(), re.S)
    return {
        name: int(value) for name, value in re.findall(r"(TSRT_\w+)\s*=\s*(-?\d+)", enum.group(1))
    }


def test_every_status_code_raises_its_own_exception_class():
    statuses = header_statuses()
    assert statuses.pop("TSRT_OK") == 0
    assert set(statuses) == set(EXCEPTION_OF_STATUS), "a status code without a test"
    check(0)  # OK raises nothing
    for name, code in statuses.items():
        with raises_exactly(EXCEPTION_OF_STATUS[name]) as caught:
            check(code)
        assert caught.value.status == name
    with raises_exactly(pyfront.PyfrontError) as caught:
        check(-9999)  # a code newer than this pyfront
    assert caught.value.status == "TSRT_UNKNOWN_STATUS"
    for cls, bases in PYTHON_BASES.items():
        assert issubclass(cls, pyfront.PyfrontError) and issubclass(cls, bases), cls


def test_an_allocation_the_machine_cannot_make_is_out_of_memory():
    """A tuple of 2**58 items asks the C++ library for 4 EiB, which it refuses with
    std::bad_alloc: the caller gets TSRT_ERR_OUT_OF_MEMORY (not an internal error) and its
    out-parameter stays untouched."""
    item = ffi.new("tsrt_value **")
    assert lib().tsrt_value_int(7, item) == C.TSRT_OK
    try:
        items = ffi.new("tsrt_value *[1]", [item[0]])
        out = ffi.new("tsrt_value **")
        assert lib().tsrt_value_tuple(items, 2**58, out) == C.TSRT_ERR_OUT_OF_MEMORY
        assert ffi.string(lib().tsrt_last_error()) == b"out of memory"
        assert out[0] == ffi.NULL
    finally:
        lib().tsrt_value_free(item[0])


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with raises_exactly(pyfront.ModelNotFoundError) as caught:
        pyfront.Model(missing)
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, pyfront.ModelLoadError)
    assert str(missing) in str(caught.value) and caught.value.filename == str(missing)
    assert caught.value.status == "TSRT_ERR_NOT_FOUND"
    with raises_exactly(pyfront.ModelNotFoundError):
        pyfront.infer(missing, np.zeros((1, 3, 224, 224)))


def test_directories_are_not_models(tmp_path):
    for directory in (tmp_path, "/"):
        with raises_exactly(pyfront.ModelLoadError, match="is a directory") as caught:
            pyfront.Model(directory)
        assert str(directory) in str(caught.value) and caught.value.status == "TSRT_ERR_IO"


def test_special_files_are_not_models(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes: the load must refuse it without
    opening it. Run in a child with a time limit, so that a regression fails, not hangs."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code = textwrap.dedent("""
        import sys, pyfront
        for path in sys.argv[1:]:
            try:
                pyfront.Model(path)
            except pyfront.PyfrontError as error:
                print(type(error).__name__, error.status, str(error).splitlines()[0])
    """)
    result = subprocess.run(
        [sys.executable, "-c", code, str(fifo), "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines == [
        f"ModelLoadError TSRT_ERR_IO '{fifo}' is not a regular file",
        "ModelLoadError TSRT_ERR_IO '/dev/null' is not a regular file",
    ]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"def forward(x): return x\n", "as a TorchScript module"),
        (None, "as a TorchScript module"),  # a truncated real model
    ],
    ids=["empty", "text", "truncated"],
)
def test_files_that_are_not_torchscript(tmp_path, resnet18_path, content, reason):
    path = tmp_path / "bad.pt"
    path.write_bytes(content if content is not None else resnet18_path.read_bytes()[:100_000])
    with raises_exactly(pyfront.ModelLoadError, match=reason) as caught:
        pyfront.Model(path)
    assert str(path) in str(caught.value) and caught.value.status == "TSRT_ERR_BAD_MODEL"
    assert "Exception raised from" not in str(caught.value)  # no C++ backtrace


def test_garbage_buffer():
    with raises_exactly(pyfront.ModelLoadError, match="buffer") as caught:
        pyfront.Model(b"\x00" * 1000)
    assert caught.value.status == "TSRT_ERR_BAD_MODEL"


def test_size_limit(tmp_path):
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    size = path.stat().st_size
    for source in (path, path.read_bytes()):
        with raises_exactly(pyfront.ModelLoadError, match="more than the limit") as caught:
            pyfront.Model(source, max_file_size=size - 1)
        assert caught.value.status == "TSRT_ERR_TOO_LARGE"
    assert pyfront.Model(path, max_file_size=size).parameter_count > 0
    with raises_exactly(pyfront.InvalidArgumentError):
        pyfront.Model(path, max_file_size=0)


@pytest.mark.parametrize("source", [42, None, 3.5, ["a.pt"]])
def test_sources_that_are_not_paths_or_bytes(source):
    with raises_exactly(pyfront.InvalidArgumentError, match="path or bytes"):
        pyfront.Model(source)


def test_path_with_nul_byte():
    with raises_exactly(pyfront.InvalidArgumentError, match="NUL"):
        pyfront.Model("model\0.pt")


def test_devices(resnet18_path):
    with raises_exactly(pyfront.InvalidArgumentError, match="tpu"):
        pyfront.Model(resnet18_path, device="tpu")
    if torch.cuda.is_available():
        assert pyfront.Model(resnet18_path, device="cuda").device == "cuda:0"
        with raises_exactly(pyfront.DeviceError, match="CUDA device"):
            pyfront.Model(resnet18_path, device="cuda:99")
    else:
        with raises_exactly(pyfront.DeviceError, match="CUDA is not available") as caught:
            pyfront.Model(resnet18_path, device="cuda:0")
        assert caught.value.status == "TSRT_ERR_DEVICE"
    assert pyfront.Model(resnet18_path, device="cpu").device == "cpu"


def test_bad_options(resnet18_path):
    with raises_exactly(pyfront.InvalidArgumentError, match="warm-up runs"):
        pyfront.Model(resnet18_path, warmup_runs=101)
    with raises_exactly(pyfront.InvalidArgumentError, match="warmup takes a list of shapes"):
        pyfront.Model(resnet18_path, warmup=[("a", 3)])
    with raises_exactly(pyfront.InvalidArgumentError, match="device must be a str"):
        pyfront.Model(resnet18_path, device=0)


def test_thread_count_setting():
    before = pyfront.get_num_threads()
    try:
        pyfront.set_num_threads(1)
        assert pyfront.get_num_threads() == 1
        with raises_exactly(pyfront.InvalidArgumentError, match="at least 1"):
            pyfront.set_num_threads(0)
        with raises_exactly(pyfront.InvalidArgumentError, match="must be an int"):
            pyfront.set_num_threads(2.0)
    finally:
        pyfront.set_num_threads(before)

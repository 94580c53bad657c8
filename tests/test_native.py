"""The C side: ts-infer, the C ABI test program, and the header's agreement with pyfront."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyfront
from pyfront._ffi import C, lib
from pyfront._paths import header_path

from conftest import BUILD, ROOT, reference_topk

TS_INFER = BUILD / "ts-infer"
HEADER = ROOT / "shim" / "include" / "tsrt.h"


def run(*args, **kwargs):
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs
    )


def test_ts_infer_prints_the_recipes_output(resnet18_path, resnet18_ref):
    result = run(TS_INFER, resnet18_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[:2] == ["Loading model...", "Model loaded successfully"]
    assert re.fullmatch(r"(\s+\d+\n){5}", "\n".join(lines[2:7]) + "\n")
    assert lines[7:] == ["[ CPULongType{5} ]", "", "DONE", ""]
    ref_indices, _, _ = reference_topk(resnet18_ref, np.ones((1, 3, 224, 224), np.float32), 5)
    assert [int(line) for line in lines[2:7]] == ref_indices[0].tolist()
    # Right-aligned to the widest index plus one column, as libtorch prints.
    width = len(str(max(ref_indices[0]))) + 1
    assert all(len(line) == width for line in lines[2:7])


@pytest.mark.parametrize("args", [(), ("a.pt", "b.pt")], ids=["none", "two"])
def test_ts_infer_usage(args):
    result = run(TS_INFER, *args)
    assert result.returncode != 0
    assert "usage: ts-infer" in result.stderr and result.stdout == ""


def test_ts_infer_bad_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    result = run(TS_INFER, bad)
    assert result.returncode != 0
    assert result.stdout == "Loading model...\n"
    assert result.stderr.startswith("Error loading model\n")
    assert str(bad) in result.stderr and "TorchScript" in result.stderr


@pytest.fixture(scope="module")
def ctest_output(resnet18_path):
    """The C test programs, run by CTest (as registered in shim/CMakeLists.txt) on models
    written where the build expects them."""
    import zoo

    models = BUILD / "test-models"
    models.mkdir(exist_ok=True)
    shutil.copyfile(resnet18_path, models / "resnet18.pt")
    zoo.save(zoo.Mixed(), models / "mixed.pt")
    zoo.save(zoo.Counter(), models / "counter.pt")
    zoo.save(zoo.Aliases(), models / "aliases.pt")
    ctest = shutil.which("ctest") or str(Path(sys.executable).parent / "ctest")
    result = run(ctest, "--test-dir", BUILD, "--verbose")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    assert "100% tests passed, 0 tests failed out of 2" in result.stdout
    return result.stdout


@pytest.mark.parametrize("program, at_least", [("tsrt-abi-test", 100), ("tsrt-values-test", 250)])
def test_c_programs_pass(ctest_output, program, at_least):
    section = ctest_output.split(f"Test command: {BUILD / program}")[1]
    passed = re.search(r"(\d+) passed, 0 failed$", section, re.M)
    assert passed and int(passed.group(1)) > at_least, section[:3000]


def test_declarations_are_the_headers_as_the_compiler_reads_it(tmp_path):
    """pyfront reads its declarations from the tsrt.h it ships: that must be the public header,
    every function it declares must be callable, and every constant must have the value a C
    compiler gives it."""
    header = HEADER.read_text()
    assert header_path().read_text() == header
    functions = set(re.findall(r"TSRT_API[^;(]*?\b(tsrt_\w+)\s*\(", header))
    assert len(functions) > 60 and all(hasattr(lib(), name) for name in functions)
    constants = vars(C)
    declared = set(re.findall(r"^\s*(TSRT_[A-Z0-9_]+)\s*=", header, re.M))
    declared |= set(re.findall(r"^#define (TSRT_[A-Z0-9_]+) \(?-?\d", header, re.M))
    assert declared == set(constants), declared ^ set(constants)
    source = tmp_path / "constants.c"
    printf = {
        int: '"%s %lld\\n", "{0}", (long long)({0})',
        float: '"%s %.17g\\n", "{0}", (double)({0})',
    }
    source.write_text(
        '#include <stdio.h>\n#include "tsrt.h"\nint main(void) {\n'
        + "".join(
            f"    printf({printf[type(value)].format(name)});\n"
            for name, value in sorted(constants.items())
        )
        + "    return 0;\n}\n"
    )
    built = run("cc", "-std=c99", f"-I{HEADER.parent}", source, "-o", tmp_path / "constants")
    assert built.returncode == 0, built.stderr
    printed = run(tmp_path / "constants")
    compiled = {
        name: type(constants[name])(value)
        for name, value in (line.split() for line in printed.stdout.splitlines())
    }
    assert compiled == constants
    assert pyfront.abi_version() == C.TSRT_ABI_VERSION
    assert pyfront.__version__ == re.search(r'#define TSRT_VERSION "(.*)"', header).group(1)


@pytest.mark.parametrize(
    "compiler, flags",
    [
        ("cc", ["-x", "c", "-std=c99"]),
        ("c++", ["-x", "c++", "-std=c++11"]),
    ],
)
def test_header_compiles_strictly_as_c99_and_cpp(tmp_path, compiler, flags):
    source = tmp_path / "use.c"
    source.write_text(
        '#include "tsrt.h"\nint main(void) { return tsrt_abi_version() > 0 ? 0 : 1; }\n'
    )
    result = run(
        compiler,
        *flags,
        "-pedantic",
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-I{HEADER.parent}",
        "-c",
        source,
        "-o",
        tmp_path / "use.o",
    )
    assert result.returncode == 0, result.stderr

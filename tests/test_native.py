"""The C side: ts-infer, the C ABI test program, and the header's agreement with pyfront."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

import pyfront
from pyfront._ffi import ABI_VERSION, CDEF
from conftest import BUILD, ROOT, reference_topk

TS_INFER = BUILD / "ts-infer"
HEADER = ROOT / "shim" / "include" / "tsrt.h"


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300,
                          **kwargs)


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


def test_c_abi_contract(resnet18_path):
    result = run(BUILD / "tsrt-abi-test", resnet18_path)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"^(\d+) passed, 0 failed$", result.stdout, re.M)
    assert passed and int(passed.group(1)) > 100, result.stdout  # all of them ran


def _declarations(text: str) -> set[str]:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"#.*", "", text).replace("TSRT_API", "")
    text = re.sub(r'extern "C" \{|\}\s*$', "", text)
    statements = re.split(r";", re.sub(r"\s+", " ", text))
    return {s.strip() for s in statements if "tsrt" in s and "(" in s or "typedef" in s}


def test_cdef_matches_the_public_header():
    header = _declarations(HEADER.read_text())
    cdef = _declarations(CDEF)
    assert cdef == header, {"only in header": header - cdef, "only in cdef": cdef - header}
    version = re.search(r"#define TSRT_ABI_VERSION (\d+)", HEADER.read_text()).group(1)
    assert pyfront.abi_version() == int(version) == ABI_VERSION


@pytest.mark.parametrize("compiler, flags", [
    ("cc", ["-x", "c", "-std=c99"]),
    ("c++", ["-x", "c++", "-std=c++11"]),
])
def test_header_compiles_strictly_as_c99_and_cpp(tmp_path, compiler, flags):
    source = tmp_path / "use.c"
    source.write_text('#include "tsrt.h"\nint main(void) { return tsrt_abi_version() > 0 ? 0 : 1; }\n')
    result = run(compiler, *flags, "-pedantic", "-Wall", "-Wextra", "-Werror",
                 f"-I{HEADER.parent}", "-c", source, "-o", tmp_path / "use.o")
    assert result.returncode == 0, result.stderr


def test_c_value_api(tmp_path):
    import zoo

    mixed = zoo.save(zoo.Mixed(), tmp_path / "mixed.pt")
    counter = zoo.save(zoo.Counter(), tmp_path / "counter.pt")
    aliases = zoo.save(zoo.Aliases(), tmp_path / "aliases.pt")
    result = run(BUILD / "tsrt-values-test", mixed, counter, aliases)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"^(\d+) passed, 0 failed$", result.stdout, re.M)
    assert passed and int(passed.group(1)) > 250, result.stdout  # all of them ran

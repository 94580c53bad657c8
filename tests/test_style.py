"""One style everywhere: ruff (lint and format) for the Python, mypy for pyfront's types,
clang-format for the C and C++. The configurations are pyproject.toml and .clang-format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent
PYTHON_TREES = ["pyfront", "tests", "scripts"]


def run(*args):
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_ruff_lint():
    result = run(BIN / "ruff", "check", *PYTHON_TREES)
    assert result.returncode == 0, result.stdout[-5000:]


def test_ruff_format():
    result = run(BIN / "ruff", "format", "--check", *PYTHON_TREES)
    assert result.returncode == 0, result.stdout[-5000:]


def test_mypy():
    result = run(BIN / "mypy")
    assert result.returncode == 0, result.stdout[-5000:]


def test_clang_format():
    sources = sorted(
        str(p.relative_to(ROOT))
        for pattern in ("*.c", "*.h", "*.cpp", "*.hpp")
        for p in (ROOT / "shim").rglob(pattern)
        if "examples" not in p.parts
    )
    assert sources
    result = run(BIN / "clang-format", "--dry-run", "--Werror", *sources)
    assert result.returncode == 0, result.stderr[-5000:]


@pytest.mark.parametrize("tool", ["ruff", "mypy", "clang-format"])
def test_tools_are_installed_by_setup(tool):
    requirements = (ROOT / "requirements.txt").read_text().split()
    assert tool in requirements

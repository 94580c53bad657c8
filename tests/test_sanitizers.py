"""The C programs under AddressSanitizer + UndefinedBehaviorSanitizer, and under valgrind
memcheck: scripts/sanitize.sh, which fails on any report and proves first, for each checker,
that a faulty program makes it fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

PROGRAMS = ("tsrt-abi-test", "tsrt-values-test", "ts-infer")


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not on PATH")
def test_sanitizer_script_runs_clean():
    args = ["bash", str(ROOT / "scripts" / "sanitize.sh")]
    if shutil.which("valgrind") is None:
        args.append("--no-valgrind")
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "leak check works: it caught tsrt-leaks-on-purpose" in result.stderr
    for program in PROGRAMS:
        assert f"clean: {program} (ASan+UBSan)" in result.stderr
    if shutil.which("valgrind"):
        assert "valgrind check works: it caught tsrt-reads-freed-memory (exit 87)" in result.stderr
        for program in PROGRAMS:
            assert f"clean: {program} (valgrind: ERROR SUMMARY: 0 errors" in result.stderr, (
                result.stderr[-3000:]
            )

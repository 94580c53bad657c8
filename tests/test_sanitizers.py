"""The C programs under AddressSanitizer + UndefinedBehaviorSanitizer, and valgrind memcheck:
scripts/sanitize.sh, which fails on any report (and proves its leak check can fail)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not on PATH")
def test_sanitizer_script_runs_clean():
    args = ["bash", str(ROOT / "scripts" / "sanitize.sh")]
    if shutil.which("valgrind") is None:
        args.append("--no-valgrind")
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "leak check works: it caught tsrt-leaks-on-purpose" in result.stderr
    for program in ("tsrt-abi-test", "tsrt-values-test", "ts-infer"):
        assert f"clean: {program} (ASan+UBSan)" in result.stderr
    if shutil.which("valgrind"):
        assert "clean: valgrind, no definite leak through libtsrt" in result.stderr

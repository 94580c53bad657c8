"""The project's own tools keep working as the code they look at changes."""

from __future__ import annotations

import json
import subprocess
import sys

import mutate  # scripts/mutate.py, on the path by conftest
from conftest import ROOT


def test_every_mutant_still_finds_the_code_it_mutates():
    """A mutant whose original text moved would make scripts/mutate.py stop; found here first."""
    assert mutate.stale(mutate.MUTANTS) == []
    assert {m.file for m in mutate.MUTANTS} >= {"pyfront/errors.py", "shim/src/model.cpp"}


def test_the_benchmark_runs_every_contender(tmp_path):
    """scripts/bench.py --smoke: every runtime and measurement once, with tiny repetitions (a
    run that checks the script, not the speed). OpenVINO and ONNX Runtime are installed by
    the setup, so none may be missing."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench.py"), "--smoke", "--json", tmp_path / "r.json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "r.json").read_text())
    row = results["latency"]["1"]
    assert set(row) == {
        "pyfront fp32",
        "pyfront bf16",
        "C libtsrt fp32",
        "C libtsrt bf16",
        "recipe (torch.jit.load)",
        "eager PyTorch",
        "ONNX Runtime",
        "OpenVINO f32",
        "OpenVINO bf16",
        "pyfront fp32 warmed for 1",
    }
    assert all(r["median_ms"] > 0 for r in row.values())
    assert row["OpenVINO f32"]["precision"] == "f32"
    agreement = results["bf16_agreement"]
    assert agreement["inputs"] == 16 and 0 <= agreement["same_top1"] <= 16
    assert results["machine"]["model"] != "unknown"
    assert "batch 1: pyfront bf16 / OpenVINO bf16" in results["ratios"]
    tiny = results["tiny_call_us"]
    assert set(tiny) == {
        "pyfront Model.forward",
        "pyfront Model.bind(x)()",
        "torch.jit.load forward",
        "C tsrt_model_run_tensor",
        "C tsrt_model_run_tensor_into",
    }
    assert all(r["median_ms"] > 0 for r in tiny.values())
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")
    assert "| ratio | value |" in result.stdout

"""scripts/export.py: the recipe's export, its sanity check, weights and metadata."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

import export
import pyfront
from conftest import ROOT


def test_command_line_export_with_local_weights(tmp_path):
    torch.manual_seed(123)
    trained = torchvision.models.resnet18(weights=None).eval()
    weights = tmp_path / "weights.pth"
    torch.save(trained.state_dict(), weights)
    output = tmp_path / "out" / "r18.pt"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export.py"), "--model", "resnet18",
         "--weights", str(weights), "--output", str(output), "--seed", "4"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "eager top-5:" in result.stdout and "scripted top-5:" in result.stdout
    assert "random init" not in result.stderr  # it used the weights it was given

    batch = np.random.default_rng(1).random((2, 3, 224, 224), dtype=np.float32)
    with torch.inference_mode():
        expected = trained(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(pyfront.Model(output).forward(batch), expected, atol=1e-4)

    extra = {export.META_FILE: ""}
    torch.jit.load(str(output), _extra_files=extra)
    meta = json.loads(extra[export.META_FILE])
    assert meta["model"] == "resnet18" and str(weights) in meta["weights"]
    assert len(meta["labels"]) == 1000 and meta["input_shape"] == [1, 3, 224, 224]
    assert meta["preprocessing"]["mean"] == [0.485, 0.456, 0.406]


def test_without_weights_says_it_is_random(tmp_path, capsys):
    export.export("resnet18", output=tmp_path / "r.pt", seed=3)
    assert "random initialisation" in capsys.readouterr().err


def test_unknown_model_fails_loudly(tmp_path):
    with pytest.raises(SystemExit, match="unknown torchvision model"):
        export.export("resnet_does_not_exist", output=tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_sanity_check_rejects_a_scripted_model_that_disagrees():
    torch.manual_seed(0)
    eager = torchvision.models.resnet18(weights=None).eval()
    torch.manual_seed(1)
    other = torchvision.models.resnet18(weights=None).eval()
    with pytest.raises(SystemExit, match="FAILED sanity check"):
        export.sanity_check(eager, other, [1, 3, 224, 224], seed=0)
    export.sanity_check(eager, eager, [1, 3, 224, 224], seed=0)  # agreeing models pass

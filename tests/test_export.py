"""scripts/export.py: the recipe's export, its sanity check, weights and metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torchvision

import pyfront

import export
import zoo
from conftest import ROOT


def test_command_line_export_with_local_weights(tmp_path):
    torch.manual_seed(123)
    trained = torchvision.models.resnet18(weights=None).eval()
    weights = tmp_path / "weights.pth"
    torch.save(trained.state_dict(), weights)
    output = tmp_path / "out" / "r18.pt"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "export.py"),
            "--model",
            "resnet18",
            "--weights",
            str(weights),
            "--output",
            str(output),
            "--seed",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
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


# -- the usual mistakes with --weights: one message each, no traceback, no file written -------


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None)
    torch.save(
        torchvision.models.mobilenet_v3_small(weights=None).state_dict(), folder / "mobilenet.pth"
    )
    torch.save(
        torchvision.models.resnet18(weights=None, num_classes=10).state_dict(),
        folder / "ten_classes.pth",
    )
    torch.save(
        {f"module.{k}": v for k, v in resnet.state_dict().items()}, folder / "data_parallel.pth"
    )
    torch.save(resnet, folder / "whole_model.pth")
    torch.save({"model": resnet.state_dict(), "epoch": 7}, folder / "checkpoint.pth")
    torch.save([1, 2, 3], folder / "list.pth")
    (folder / "notes.txt").write_text("not weights\n")
    return folder


@pytest.mark.parametrize(
    "name, words",
    [
        (
            "missing.pth",
            ["no weights file", "torch.save(model.state_dict(), PATH)", "without --weights"],
        ),
        (
            "mobilenet.pth",
            [
                "do not fit resnet18",
                "122 of resnet18's 122 tensors are not in it",
                "features.0.0.weight",
                "Pass the --model these weights were trained for",
            ],
        ),
        (
            "ten_classes.pth",
            [
                "do not fit resnet18",
                "fc.weight: [10, 512] in the file, [1000, 512]",
                "another number of classes",
            ],
        ),
        ("data_parallel.pth", ["start with 'module.'", "model.module.state_dict()"]),
        (
            "whole_model.pth",
            ["holds more than tensors", "torch.save(model)", ".state_dict(), 'weights.pth')"],
        ),
        (
            "checkpoint.pth",
            [
                "training checkpoint",
                "its entry 'model' holds one",
                "torch.load('",
                "['model'], 'weights.pth')",
            ],
        ),
        ("list.pth", ["holds a list, not a state_dict"]),
        ("notes.txt", ["not a file written by torch.save"]),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_weights_that_do_not_fit_get_one_message(weight_files, tmp_path, name, words):
    output = tmp_path / "out.pt"
    with pytest.raises(export.ExportError) as caught:
        export.export("resnet18", weights=weight_files / name, output=output)
    message = str(caught.value)
    assert isinstance(caught.value, SystemExit)  # ends a script with the message, status 1
    for word in words:
        assert word in message, message
    assert "Missing key(s)" not in message and "\n" not in message
    assert not output.exists()


def test_a_torchscript_file_as_weights(resnet18_path):
    with pytest.raises(export.ExportError, match="is a TorchScript file already"):
        export.export("resnet18", weights=resnet18_path)


@pytest.mark.parametrize("command", ["script", "cli"])
def test_the_commands_print_one_line_and_exit_1(weight_files, tmp_path, command):
    argv = [
        "--model",
        "resnet18",
        "--weights",
        str(weight_files / "mobilenet.pth"),
        "--output",
        str(tmp_path / "out.pt"),
    ]
    program = (
        [sys.executable, str(ROOT / "scripts" / "export.py")]
        if command == "script"
        else [sys.executable, "-m", "pyfront", "export"]
    )
    result = subprocess.run(program + argv, capture_output=True, text=True, timeout=300)
    prefix = "export.py" if command == "script" else "pyfront export"
    assert result.returncode == 1
    assert (
        result.stderr.startswith(f"{prefix}: the weights in ") and "Traceback" not in result.stderr
    )
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "out.pt").exists()


def test_export_without_torchvision_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "torchvision.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torchvision'\", name='torchvision')\n"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [sys.executable, "-m", "pyfront", "export", "--output", str(tmp_path / "x.pt")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "needs torch and torchvision" in result.stderr
    assert f"pip install torch=={pyfront.libtorch_version()} torchvision" in result.stderr


def test_only_the_export_command_imports_torch(resnet18_path):
    code = (
        "import sys, pyfront.cli as cli; cli.build_parser(); "
        f"assert cli.main(['info', {str(resnet18_path)!r}]) == 0; "
        "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


# -- parameter_count of frozen files equals the unfrozen model's ------------------------------


@pytest.fixture(scope="module")
def squeezenet_by_command(tmp_path_factory):
    """squeezenet1_1 exported by `pyfront export`, the installed command."""
    output = tmp_path_factory.mktemp("cli") / "squeezenet.pt"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyfront",
            "export",
            "--model",
            "squeezenet1_1",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "saved squeezenet1_1" in result.stdout and "random initialisation" in result.stderr
    return output


def test_export_command_writes_what_torch_runs(squeezenet_by_command, images):
    batch = images(2, 3, 224, 224, seed=3)
    with torch.inference_mode():
        expected = torch.jit.load(str(squeezenet_by_command))(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(
        pyfront.Model(squeezenet_by_command).forward(batch),
        expected,
        rtol=0,
        atol=1e-4 * np.abs(expected).max(),
    )


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "squeezenet1_1"])
def test_parameter_count_of_a_frozen_export_is_the_models(
    tmp_path, resnet18_path, squeezenet_by_command, name
):
    if name == "resnet18":
        path = resnet18_path
    elif name == "squeezenet1_1":
        path = squeezenet_by_command
    else:
        path = export.export(name, output=tmp_path / f"{name}.pt", seed=0)
    frozen = torch.jit.load(str(path))
    assert sum(p.numel() for p in frozen.parameters()) == 0  # frozen: weights are constants
    unfrozen = getattr(torchvision.models, name)(weights=None)
    expected = sum(p.numel() for p in unfrozen.parameters())
    model = pyfront.Model(path)
    assert model.frozen and model.parameter_count == expected
    assert pyfront.Model(path, freeze=False, warmup=[]).parameter_count == expected


def test_a_frozen_file_without_a_recorded_count_counts_as_torch_does(tmp_path):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        frozen = torch.jit.freeze(torch.jit.script(zoo.SmallNet().eval()))
    frozen.save(str(tmp_path / "frozen.pt"))
    frozen.save(str(tmp_path / "garbled.pt"), _extra_files={export.PARAMETERS_FILE: "12x\n"})
    for name in ("frozen.pt", "garbled.pt"):
        ref = torch.jit.load(str(tmp_path / name))
        assert (
            pyfront.Model(tmp_path / name).parameter_count
            == sum(p.numel() for p in ref.parameters())
            == 0
        )

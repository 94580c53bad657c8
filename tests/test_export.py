"""scripts/export.py: the recipe's export, its sanity check, weights and metadata."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import pyfront
from pyfront import _pretrained

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


# -- which weights: torchvision's pretrained (from torch's hub cache), random, or a file -------


def saved_meta(path) -> dict:
    extra = {export.META_FILE: ""}
    torch.jit.load(str(path), _extra_files=extra)
    return json.loads(extra[export.META_FILE])


def assert_runs_as(path, eager, batch):
    """The exported file, through torch.jit.load, answers as the eager model does."""
    with torch.inference_mode():
        expected = eager.eval()(torch.from_numpy(batch))
        got = torch.jit.load(str(path))(torch.from_numpy(batch))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def hub_cache_file(torch_home, weights) -> Path:
    """Where torch.hub keeps the file of a torchvision weights enum: the URL's file name in
    $TORCH_HOME/hub/checkpoints."""
    return torch_home / "hub" / "checkpoints" / Path(urllib.parse.urlparse(weights.url).path).name


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def offline(monkeypatch):
    """urllib, which torch.hub downloads with, sends every request to a closed port: offline,
    whatever network this machine has."""
    proxy = urllib.request.ProxyHandler({"https": f"http://127.0.0.1:{closed_port()}"})
    monkeypatch.setattr(urllib.request, "_opener", urllib.request.build_opener(proxy))


def test_offline_default_export_names_the_file_and_the_ways_out(tmp_path):
    torch_home, output = tmp_path / "torch-home", tmp_path / "r18.pt"
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy")}
    env.update(TORCH_HOME=str(torch_home), https_proxy=proxy)
    result = subprocess.run(
        [sys.executable, "-m", "pyfront", "export", "--model", "resnet18", "--output", output],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [message] = result.stderr.splitlines()
    assert message.startswith(
        "pyfront export: cannot get resnet18's pretrained weights ResNet18_Weights.IMAGENET1K_V1"
    )
    for words in (
        f"downloading {weights.url} failed",
        f"torch's cache has no {hub_cache_file(torch_home, weights)}",
        "--weights PATH (a local state_dict)",
        "--weights random (a seeded random initialisation",
    ):
        assert words in message, message
    assert not output.exists() and not hub_cache_file(torch_home, weights).exists()


def test_a_download_that_hangs_gives_up_within_the_timeout(tmp_path, monkeypatch):
    """A server that takes the connection and never answers: the export fails after the
    socket timeout, not minutes later."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)

    def hold_then_hang_up():  # so that a missing timeout fails the test instead of hanging it
        connection, _ = silent.accept()
        time.sleep(15)
        connection.close()

    holder = threading.Thread(target=hold_then_hang_up, daemon=True)
    holder.start()
    proxy = urllib.request.ProxyHandler({"https": f"http://127.0.0.1:{silent.getsockname()[1]}"})
    monkeypatch.setattr(urllib.request, "_opener", urllib.request.build_opener(proxy))
    monkeypatch.setattr(_pretrained, "DOWNLOAD_TIMEOUT", 1.0)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    started = time.monotonic()
    with pytest.raises(export.ExportError, match=r"failed \(timed out\)"):
        export.export("resnet18", output=tmp_path / "r18.pt")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "r18.pt").exists()
    silent.close()


def test_default_export_uses_the_weights_in_torch_hub_cache(tmp_path, monkeypatch, images):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    cached = hub_cache_file(tmp_path / "torch-home", weights)
    cached.parent.mkdir(parents=True)
    torch.manual_seed(11)  # weights no seed of the export's random init gives
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, cached)

    output = export.export("resnet18", output=tmp_path / "r18.pt", seed=0)

    eager = torchvision.models.resnet18(weights=None)
    eager.load_state_dict(state)
    assert_runs_as(output, eager, images(2, 3, 224, 224, seed=4))
    meta = saved_meta(output)
    assert meta["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert meta["labels"] == list(weights.meta["categories"]) and len(meta["labels"]) == 1000


def test_random_weights_are_the_seeded_initialisation(tmp_path, capsys, images):
    output = export.export("resnet18", weights="random", output=tmp_path / "r.pt", seed=3)
    assert "seeded random initialisation (seed 3)" in capsys.readouterr().err
    torch.manual_seed(3)
    assert_runs_as(output, torchvision.models.resnet18(weights=None), images(2, 3, 224, 224))
    meta = saved_meta(output)
    assert meta["weights"] == "random init (seed 3)" and len(meta["labels"]) == 1000


def test_an_unreadable_cached_file_says_to_delete_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    cached = hub_cache_file(tmp_path / "torch-home", torchvision.models.ResNet18_Weights.DEFAULT)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"an interrupted copy")
    with pytest.raises(export.ExportError) as caught:
        export.export("resnet18", output=tmp_path / "r18.pt")
    message = str(caught.value)
    assert f"from torch's cache {cached}" in message and "Delete that file" in message, message
    assert "--weights random" in message and not (tmp_path / "r18.pt").exists()


def test_detection_models_default_to_their_coco_weights(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    weights = torchvision.models.detection.SSDLite320_MobileNet_V3_Large_Weights.DEFAULT
    output = tmp_path / "ssdlite.pt"
    with pytest.raises(export.ExportError) as caught:
        export.main(["--model", "ssdlite320_mobilenet_v3_large", "--output", str(output)])
    message = str(caught.value)
    assert message.startswith(
        "export.py: cannot get ssdlite320_mobilenet_v3_large's pretrained weights "
        "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
    )
    assert str(hub_cache_file(tmp_path / "torch-home", weights)) in message
    assert "--weights PATH" in message and "--weights random" in message
    assert not output.exists()


def test_weights_none_is_refused_as_ambiguous(tmp_path):
    with pytest.raises(export.ExportError, match="weights=None is ambiguous"):
        export.export("resnet18", weights=None, output=tmp_path / "r.pt")
    assert not (tmp_path / "r.pt").exists()


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
            [
                "no weights file",
                "torch.save(model.state_dict(), PATH)",
                "without --weights, resnet18 gets torchvision's pretrained weights",
                "--weights random",
            ],
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
            "--weights",
            "random",
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
        path = export.export(name, weights="random", output=tmp_path / f"{name}.pt", seed=0)
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

"""AOTInductor packages (.pt2) through libtsrt and pyfront: outputs equal PyTorch's own package
loader's, top-5 equal the TorchScript file's of the same model, ts-infer, loads from bytes, the
private extraction folder, and hostile or damaged archives refused with a clean error."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import pyfront
from pyfront import export_pt2
from pyfront.errors import (
    InferenceError,
    InvalidArgumentError,
    ModelLoadError,
    NoSuchNameError,
)
from pyfront.isolated import IsolatedModel

from conftest import (
    BUILD,
    SMALL_CLASSES,
    SMALL_LABELS,
    SMALL_SHAPE,
    raises_exactly,
    reference_topk,
    small_classifier,
)

TS_INFER = BUILD / "ts-infer"
SHAPE = SMALL_SHAPE  # ts-infer runs a 1x3x224x224 input
CLASSES = SMALL_CLASSES
LABELS = SMALL_LABELS


@pytest.fixture(scope="module")
def models(small_package):
    return small_package


@pytest.fixture(scope="module")
def python_loader(models):
    """The reference: the package through PyTorch's own loader in Python."""
    return export_pt2.load_package(models[0])


def _batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SHAPE[1:]), dtype=np.float32)


@pytest.fixture(scope="module")
def python_batch1_loader(models):
    """The package's model compiled for batch 1 alone, through PyTorch's own loader."""
    return export_pt2.load_package(models[0], export_pt2.BATCH1_MODEL)


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_outputs_equal_pytorchs_package_loader(models, python_loader, python_batch1_loader, batch):
    """Bit for bit the results PyTorch's loader gives with the package's model for that shape:
    at batch 1 the model compiled for batch 1 alone (its results differ from the dynamic
    model's in the last bits), elsewhere the dynamic one."""
    import torch

    x = _batch(batch, seed=batch)
    with pyfront.Model(models[0]) as model:
        got = model.forward(x)
    reference = python_batch1_loader if batch == 1 else python_loader
    expected = reference(torch.from_numpy(x)).numpy()
    assert got.shape == (batch, CLASSES)
    np.testing.assert_array_equal(got, expected)


def test_top5_equals_the_torchscript_files(models):
    import torch

    x = _batch(8, seed=11)
    indices, probs, _ = reference_topk(torch.jit.load(str(models[1])).eval(), x, 5)
    with pyfront.Model(models[0]) as model:
        top = model.topk(x, 5)
    np.testing.assert_array_equal(top.indices, indices)
    np.testing.assert_allclose(top.probs, probs, atol=1e-5)
    top = pyfront.infer(models[0], x[0], k=5)
    np.testing.assert_array_equal(top.indices, indices[:1])


def test_classify_labels_a_package_as_torch_does(models, tmp_path):
    """Image files through pyfront's classify with the package, against torchvision's preset
    transforms and the TorchScript file of the same model under torch.jit.load."""
    import torch
    from PIL import Image
    from torchvision.models import ResNet18_Weights

    from pyfront.classify import classify

    rng = np.random.default_rng(1)
    paths = []
    for i, size in enumerate([(300, 400), (260, 517), (256, 256)]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(paths[-1])
    with pyfront.Model(models[0]) as model:
        results = list(classify(paths, model, k=5))
    transforms = ResNet18_Weights.IMAGENET1K_V1.transforms()  # the metadata's preprocessing
    batch = torch.stack([transforms(Image.open(p).convert("RGB")) for p in paths])
    indices, _, _ = reference_topk(torch.jit.load(str(models[1])).eval(), batch.numpy(), 5)
    for result, expected in zip(results, indices):
        assert [e["index"] for e in result["top"]] == expected.tolist()
        assert [e["label"] for e in result["top"]] == [LABELS[i] for i in expected]


def test_format_metadata_and_introspection(models):
    with pyfront.Model(models[0]) as package, pyfront.Model(models[1]) as script:
        assert package.format == "pt2" and script.format == "torchscript"
        assert package.method_names() == ["forward"]
        assert package.schema() == "forward(Tensor arg0) -> Tensor"
        assert package.metadata["labels"] == LABELS
        assert package.extra_files["tsrt/input_shapes"] == b"1x3x224x224\n"
        assert not any(name.startswith("AOTI_") for name in package.extra_files)
        assert package.frozen and not package.keeps_state


def test_the_exported_package_is_frozen(python_loader):
    """Frozen as pyfront's TorchScript files are: batch norms folded into the convolutions and
    weights turned into constants of the compiled code, so no batch-norm statistic is left."""
    constants = python_loader.get_constant_fqns()
    assert any(name.startswith("_frozen_param") for name in constants), constants
    assert not [name for name in constants if "running_" in name], constants


def test_convolution_weights_are_packed_once_not_at_every_call(models):
    """The model compiled for any batch size holds its convolutions' weights in oneDNN's layout
    already: a call makes oneDNN run the convolutions and reorder none of their weights.
    (Inductor leaves the weights plain when the batch is dynamic, and every call then reorders
    each of them.) oneDNN's verbose log of the second call, at the batch size the weights were
    packed for; a reorder's line ends with the dimensions it reordered."""
    import torch

    package, _ = models
    weights = {
        "x".join(map(str, layer.weight.shape))
        for layer in small_classifier()
        if isinstance(layer, torch.nn.Conv2d)
    }
    code = (
        "import numpy as np, pyfront\n"
        f"model = pyfront.Model({str(package)!r})\n"
        f"x = np.random.rand({export_pt2.TRACE_BATCH}, *{SHAPE[1:]!r}).astype(np.float32)\n"
        "model.forward(x)\n"
        "print('SECOND CALL', flush=True)\n"
        "model.forward(x)\n"
    )
    env = dict(os.environ, ONEDNN_VERBOSE="profile_exec")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    second = result.stdout.split("SECOND CALL", 1)[1].splitlines()
    calls = [line.split(",") for line in second if line.startswith("onednn_verbose")]
    assert [call[5] for call in calls].count("convolution") == len(weights) == 2, second
    reordered = [call[-2] for call in calls if call[5] == "reorder"]
    assert not weights & set(reordered), second


def test_a_package_takes_every_batch_size_up_to_its_maximum(tmp_path):
    """A convolution of stride 1 made Inductor's compile ask whether the batch is below 16 (to
    pick a convolution backend for the layout of its result), with the traced batch's answer:
    the package then refused batch 16 and above. Compared with PyTorch's own loader on the
    same file, at batch sizes on both sides of 16 and at the largest one."""
    import torch

    torch.manual_seed(0)
    eager = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    ).eval()
    package = export_pt2.compile_package(eager, [1, 3, 8, 8], {}, tmp_path / "c.pt2", batch1=False)
    reference = export_pt2.load_package(package)
    with pyfront.Model(package) as model:
        for batch in (1, 15, 16, 17, export_pt2.MAX_BATCH):
            x = np.random.default_rng(batch).random((batch, 3, 8, 8), dtype=np.float32)
            expected = reference(torch.from_numpy(x)).numpy()
            np.testing.assert_array_equal(model.forward(x), expected)
        too_many = np.zeros((export_pt2.MAX_BATCH + 1, 3, 8, 8), np.float32)
        with raises_exactly(InferenceError, match=f"<= {export_pt2.MAX_BATCH}"):
            model.forward(too_many)


def test_load_from_bytes_whatever_the_name(models, tmp_path):
    import torch

    data = Path(models[0]).read_bytes()
    renamed = tmp_path / "model.bin"  # recognised by content, not by name
    renamed.write_bytes(data)
    x = _batch(2, seed=5)
    expected = torch._inductor.aoti_load_package(str(models[0]))(torch.from_numpy(x)).numpy()
    for source in (data, renamed):
        with pyfront.Model(source) as model:
            assert model.format == "pt2"
            np.testing.assert_allclose(model.forward(x), expected, rtol=1e-5, atol=1e-5)


def test_private_folder_removed_on_close(models, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    model = pyfront.Model(models[0])
    folders = list(tmp_path.glob("tsrt-pt2-*"))
    assert len(folders) == 1
    assert stat.S_IMODE(folders[0].stat().st_mode) == 0o700
    model.close()
    assert not folders[0].exists()


def test_wrong_input_shape_is_an_inference_error(models):
    with pyfront.Model(models[0]) as model:
        with raises_exactly(InferenceError, match="unmatched dim value at 1"):
            model.forward(np.zeros((2, 4, 224, 224), np.float32))
        with raises_exactly(InferenceError, match="unmatched dim value at 2"):
            model.forward(np.zeros((1, 3, 200, 224), np.float32))


def test_other_methods_and_other_arguments_are_clean_errors(models):
    with pyfront.Model(models[0]) as model:
        with raises_exactly(NoSuchNameError, match="has only forward"):
            model.run_method("predict", _batch(1))
        with raises_exactly(InvalidArgumentError, match=r"forward takes 1 argument\(s\), got 2"):
            model.run_method("forward", _batch(1), _batch(1))
        with raises_exactly(InvalidArgumentError, match="argument 0 is int, but the .pt2"):
            model.run_method("forward", 3)


def test_a_package_compiled_with_pytorchs_defaults(tmp_path):
    """A package made by aoti_compile_and_package with its default settings (-march=native,
    dynamic sizes assumed to be at least 2) runs, and batch 1 is refused with the way out."""
    import torch

    eager = small_classifier()
    example = torch.rand(2, 3, 32, 32)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(eager, (example,), dynamic_shapes=({0: batch},))
    path = torch._inductor.aoti_compile_and_package(
        program, package_path=str(tmp_path / "defaults.pt2"), inductor_configs={"freezing": True}
    )
    x = _batch(3, seed=9)[:, :, :32, :32].copy()
    expected = torch._inductor.aoti_load_package(path)(torch.from_numpy(x)).numpy()
    with pyfront.Model(path) as model:
        np.testing.assert_allclose(model.forward(x), expected, rtol=1e-5, atol=1e-5)
        with raises_exactly(InferenceError, match="check_lowerbound.*False"):
            model.forward(x[:1])


def test_ts_infer_runs_a_package(models, python_loader):
    import torch

    if not TS_INFER.exists():
        pytest.skip("build/ts-infer is not built")
    result = subprocess.run(
        [str(TS_INFER), str(models[0])], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    printed = [int(line) for line in result.stdout.splitlines() if line.strip().isdigit()]
    logits = python_loader(torch.ones(*SHAPE))
    assert printed == torch.softmax(logits, 1).topk(5).indices[0].tolist()


def test_isolated_model_runs_a_package(models, python_loader):
    import torch

    x = _batch(3, seed=7)
    with IsolatedModel(models[0]) as model:
        assert model.format == "pt2"
        got = model.forward(x)
    expected = python_loader(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_info_command_names_the_format(models):
    command = [sys.executable, "-m", "pyfront", "info", str(models[0]), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == "pt2" and info["methods"] == {
        "forward": "forward(Tensor arg0) -> Tensor"
    }
    assert info["labels"] == CLASSES
    assert info["compiled_precision"] == "fp32"


@pytest.mark.parametrize("batch1", [True, False], ids=["both-models", "no-batch1"])
def test_export_command_writes_a_package_with_the_metadata(tmp_path, monkeypatch, capsys, batch1):
    """`--format pt2` end to end, with the small classifier in place of a torchvision model
    (whose compilation takes minutes): the checked package, its metadata, the package agreeing
    with the eager model at batch 1; with `--no-batch1`, without the model for batch 1."""
    import torch

    from pyfront import export as pyfront_export

    eager = small_classifier()
    monkeypatch.setattr(pyfront_export, "build_model", lambda name, w, seed: (eager, "test"))
    monkeypatch.setattr(
        pyfront_export,
        "metadata",
        lambda name, source: {"model": name, "labels": LABELS, "input_shape": SHAPE},
    )
    output = tmp_path / "exported.pt2"
    argv = ["--model", "small", "--weights", "random", "--format", "pt2", "--output", str(output)]
    assert pyfront_export.main(argv + ([] if batch1 else ["--no-batch1"])) == 0
    assert capsys.readouterr().out.count("compiled top-5:") == (2 if batch1 else 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported.pt2"]  # no partial file
    with zipfile.ZipFile(output) as archive:
        names = [n.split("/aotinductor/")[1] for n in archive.namelist() if "/aotinductor/" in n]
    models = {name.split("/")[0] for name in names}
    assert models == ({"model", export_pt2.BATCH1_MODEL} if batch1 else {"model"})
    x = _batch(1, seed=3)
    with pyfront.Model(output) as model:
        assert model.format == "pt2"
        assert model.metadata["labels"] == LABELS and model.metadata["frozen"] is True
        assert model.parameter_count == sum(p.numel() for p in eager.parameters())
        got = model.forward(x)
    with torch.inference_mode():
        expected = eager(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# -- damaged and hostile archives --------------------------------------------------------------


def _rewrite(source: Path, target: Path, rename=None, replace=None) -> Path:
    """A copy of the package written by Python's zipfile (stored members, valid CRCs) with
    members renamed or their content replaced."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info.filename)
            name = info.filename
            if replace:
                data = replace(name, data)
            if rename:
                name = rename(name)
            copy.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return target


def _central_entry(data: bytes, suffix: bytes) -> int:
    """Offset of the central directory entry of the member whose name ends with `suffix`."""
    at = data.rfind(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length].endswith(suffix):
            return at
        at = data.rfind(b"PK\x01\x02", 0, at)
    raise AssertionError(f"no member ending in {suffix!r}")


def _load_error(path) -> Exception:
    with pytest.raises(pyfront.errors.PyfrontError) as caught:
        pyfront.Model(path)
    return caught.value


def test_path_traversal_is_refused(models, tmp_path):
    bad = _rewrite(
        Path(models[0]),
        tmp_path / "traversal.pt2",
        rename=lambda n: n.replace("small/.data/version", "small/../../escaped"),
    )
    with raises_exactly(ModelLoadError, match=r"leading out of the package \('\.\.'\)"):
        pyfront.Model(bad)
    assert not (tmp_path.parent / "escaped").exists()


def test_absolute_member_path_is_refused(models, tmp_path):
    bad = _rewrite(
        Path(models[0]),
        tmp_path / "absolute.pt2",
        rename=lambda n: "/tmp/absolute" if n.endswith(".data/version") else n,
    )
    with raises_exactly(ModelLoadError, match="has an absolute path"):
        pyfront.Model(bad)


def test_oversized_member_is_refused(models, tmp_path):
    data = bytearray(Path(models[0]).read_bytes())
    at = _central_entry(bytes(data), b".wrapper.so")
    struct.pack_into("<II", data, at + 20, 0x7FFFFFF0, 0x7FFFFFF0)  # compressed, uncompressed
    bad = tmp_path / "oversized.pt2"
    bad.write_bytes(bytes(data))
    with raises_exactly(ModelLoadError, match="run past the end of the archive"):
        pyfront.Model(bad)


def test_bad_crc_is_refused(models, tmp_path):
    data = bytearray(Path(models[0]).read_bytes())
    at = _central_entry(bytes(data), b".wrapper.so")
    local = struct.unpack_from("<I", data, at + 42)[0]
    name_length, extra_length = struct.unpack_from("<HH", data, local + 26)
    data[local + 30 + name_length + extra_length + 4096] ^= 0xFF  # a byte of the library
    bad = tmp_path / "crc.pt2"
    bad.write_bytes(bytes(data))
    with raises_exactly(ModelLoadError, match=r"wrapper\.so' fails its CRC-32 check"):
        pyfront.Model(bad)


def test_truncated_package_is_refused(models, tmp_path):
    data = Path(models[0]).read_bytes()
    bad = tmp_path / "truncated.pt2"
    bad.write_bytes(data[: len(data) // 2])
    with raises_exactly(ModelLoadError, match="no zip end record was found.*truncated"):
        pyfront.Model(bad)
    with raises_exactly(ModelLoadError, match="truncated"):
        pyfront.Model(data[: len(data) // 2])


def test_not_a_zip_is_refused(tmp_path):
    bad = tmp_path / "noise.pt2"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with raises_exactly(ModelLoadError, match="noise.pt2"):
        pyfront.Model(bad)


def _with_metadata(models, tmp_path, name, **changes) -> Path:
    def replace(member, data):
        if member.endswith("_metadata.json"):
            document = json.loads(data)
            document.update(changes)
            return json.dumps(document).encode()
        return data

    return _rewrite(Path(models[0]), tmp_path / name, replace=replace)


def test_package_for_another_instruction_set_is_refused(models, tmp_path):
    bad = _with_metadata(models, tmp_path, "isa.pt2", AOTI_CPU_ISA="AVX512 AVX1024_FUTURE")
    with raises_exactly(ModelLoadError, match="instruction set AVX1024_FUTURE"):
        pyfront.Model(bad)


def test_package_for_another_machine_is_refused(models, tmp_path):
    bad = _with_metadata(models, tmp_path, "arm.pt2", AOTI_MACHINE="aarch64")
    with raises_exactly(ModelLoadError, match="compiled for aarch64 machines"):
        pyfront.Model(bad)


def _with_compile_flag(models, tmp_path, name, flag: bytes) -> Path:
    """The package with its recorded compile commands (comments in its C++ sources) naming
    `flag` in place of -mfma; its compiled code is unchanged."""

    def replace(member, data):
        return data.replace(b" -mfma ", b" " + flag + b" ") if member.endswith(".cpp") else data

    return _rewrite(Path(models[0]), tmp_path / name, replace=replace)


def test_package_compiled_for_a_missing_cpu_feature_is_refused(models, tmp_path):
    # AVX512-4FMAPS existed only in Xeon Phi (Knights Mill).
    bad = _with_compile_flag(models, tmp_path, "4fmaps.pt2", b"-mavx5124fmaps")
    with raises_exactly(ModelLoadError, match="-mavx5124fmaps, but this CPU lacks avx512_4fmaps"):
        pyfront.Model(bad)


def test_package_compiled_with_an_unknown_instruction_flag_is_refused(models, tmp_path):
    bad = _with_compile_flag(models, tmp_path, "unknown.pt2", b"-mavx10.2")
    with raises_exactly(ModelLoadError, match="compiled with -mavx10.2, an instruction-set flag"):
        pyfront.Model(bad)


def test_missing_cpu_feature_is_refused(models, tmp_path):
    """On a CPU without AMX (every CPU but recent Xeons) a package compiled for it is refused;
    on one with it, the same package claiming AVX2 only still loads."""
    has_amx = "amx_tile" in Path("/proc/cpuinfo").read_text()
    bad = _with_metadata(models, tmp_path, "amx.pt2", AOTI_CPU_ISA="AVX512 AMX_TILE")
    if has_amx:
        with pyfront.Model(bad) as model:
            assert model.format == "pt2"
    else:
        with raises_exactly(ModelLoadError, match="this CPU lacks amx_tile"):
            pyfront.Model(bad)


# ---------------------------------------------------------------- packages compiled in bfloat16


@pytest.fixture(scope="module")
def bf16_package(tmp_path_factory):
    """The small classifier compiled in bfloat16 (float32 in and out), with the float32
    results libtsrt checks it against at load (about 10 s)."""
    path = tmp_path_factory.mktemp("pt2-bf16") / "small-bf16.pt2"
    return export_pt2.compile_package(small_classifier(), SHAPE, {}, path, precision="bf16")


def test_a_bf16_package_says_so_and_gives_pytorchs_answers(bf16_package):
    """Its results are PyTorch's loader's on the same package, and within the tolerance tsrt.h
    states of the float32 model; Model.precision reports bfloat16."""
    import torch

    eager = small_classifier()
    reference = export_pt2.load_package(bf16_package)
    with pyfront.Model(bf16_package) as model:
        assert model.precision == "bf16"
        assert "bfloat16" in model.precision_note  # float32 was asked for (the default)
        for batch in (1, 3):
            x = _batch(batch, seed=batch)
            got = model.forward(x)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, reference(torch.from_numpy(x)).numpy())
            with torch.no_grad():
                float32 = eager(torch.from_numpy(x))
            assert not export_pt2.compare_per_sample(
                torch.from_numpy(got), float32, export_pt2.BF16_TOLERANCE
            )
            # bfloat16 really ran: float32's own answer would be far closer
            assert np.abs(got - float32.numpy()).max() > 1e-4 * np.abs(float32.numpy()).max()
    with pyfront.Model(bf16_package, precision="bf16") as model:
        assert model.precision == "bf16" and model.precision_note == ""
    command = [sys.executable, "-m", "pyfront", "info", str(bf16_package)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "AOTInductor package (.pt2) compiled in bf16" in result.stdout


def test_a_bf16_package_that_disagrees_with_its_float32_results_is_refused(bf16_package, tmp_path):
    """libtsrt runs the package on the check input at load and compares with the float32
    results recorded at export: a package whose results are off (here: recorded results
    changed, as a package compiled wrongly, or run on a CPU that computes otherwise, would be)
    is refused."""
    with zipfile.ZipFile(bf16_package) as archive:
        member = next(n for n in archive.namelist() if n.endswith("_metadata.json"))
        check = json.loads(json.loads(archive.read(member))[export_pt2.PRECISION_CHECK_FILE])
    check["float32"] = [value * 1.5 for value in check["float32"]]
    changed = {export_pt2.PRECISION_CHECK_FILE: json.dumps(check)}
    bad = _with_metadata((bf16_package,), tmp_path, "off.pt2", **changed)
    with raises_exactly(ModelLoadError, match=r"compiled in bfloat16.*differ from the float32"):
        pyfront.Model(bad)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({export_pt2.PRECISION_CHECK_FILE: None}, "not the float32 results to verify it with"),
        ({export_pt2.PRECISION_CHECK_FILE: '{"shape": [1, 3]}'}, "no shape and float32 list"),
        ({export_pt2.PRECISION_CHECK_FILE: "[1,"}, "JSON"),
        ({export_pt2.PRECISION_FILE: "fp8"}, "records the precision 'fp8'"),
    ],
    ids=["no check", "no results", "not JSON", "unknown precision"],
)
def test_a_bf16_package_without_a_usable_check_is_refused(bf16_package, tmp_path, changes, message):
    def replace(member, data):
        if member.endswith("_metadata.json"):
            document = json.loads(data)
            for key, value in changes.items():
                if value is None:
                    del document[key]
                else:
                    document[key] = value
            return json.dumps(document).encode()
        return data

    bad = _rewrite(Path(bf16_package), tmp_path / "bad.pt2", replace=replace)
    with raises_exactly(ModelLoadError, match=message):
        pyfront.Model(bad)


def test_precision_is_a_package_choice(tmp_path):
    from pyfront.export import ExportError, export

    with pytest.raises(ExportError, match=r"--format pt2.*precision=\"bf16\""):
        export("resnet18", weights="random", output=tmp_path / "x.pt", precision="bf16")
    with pytest.raises(ExportError, match="unknown precision 'fp16'"):
        export(
            "resnet18", weights="random", output=tmp_path / "x.pt2", format="pt2", precision="fp16"
        )
    with pytest.raises(ExportError, match="--no-batch1 .* goes with --format pt2"):
        export("resnet18", weights="random", output=tmp_path / "x.pt", batch1=False)
    assert not list(tmp_path.iterdir())

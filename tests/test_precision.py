"""Reduced precision: bf16 is opt-in, checked against fp32 when loading and on every new input
shape, reported by the model, and refused (with the reason) where it cannot be checked. The
expectations depend on the CPU, read from /proc/cpuinfo: they hold on CPUs with AMX, with
AVX512-BF16 only, and without native bf16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import pyfront

import export
import zoo
from conftest import reference_topk


def _cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


NATIVE_BF16 = bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())
BF16_TOLERANCE = 0.03  # tsrt.h: relative to the largest |fp32 value| of each result tensor


def _check_reported_bf16(model) -> bool:
    """What a ResNet-18 loaded with precision="bf16" must report on this CPU; True when it
    runs bf16."""
    if NATIVE_BF16:
        assert (model.precision, model.precision_note) == ("bf16", "")
        return True
    if model.precision == "bf16":  # runs, emulated: the note says it is slow here
        assert "no native bf16" in model.precision_note
        return True
    assert "runs in fp32" in model.precision_note  # libtorch cannot run bf16 on this CPU
    return False


def test_fp32_is_the_default_and_has_nothing_to_say(resnet18_path):
    model = pyfront.Model(resnet18_path)
    assert (model.precision, model.precision_note) == ("fp32", "")
    assert pyfront.cpu_has_native_bf16() == NATIVE_BF16


@pytest.mark.parametrize("bad", ["fp16", "BF16", "", None, 1])
def test_an_unknown_precision_is_an_invalid_argument(resnet18_path, bad):
    with pytest.raises(pyfront.InvalidArgumentError, match="precision must be"):
        pyfront.Model(resnet18_path, precision=bad)


def test_bf16_agrees_with_torch_within_the_stated_tolerance(resnet18_path, resnet18_ref):
    model = pyfront.Model(resnet18_path, precision="bf16")
    runs_bf16 = _check_reported_bf16(model)
    rng = np.random.default_rng(7)
    same_top1 = total = 0
    for batch in (1, 1, 3, 3, 3):  # the warm-up shape, then one met only in calls
        x = rng.random((batch, 3, 224, 224), dtype=np.float32)
        ours = model.forward(x)
        _, _, ref = reference_topk(resnet18_ref, x, 5)
        assert ours.dtype == np.float32 and ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= BF16_TOLERANCE * np.abs(ref).max()
        same_top1 += int((ours.argmax(1) == ref.argmax(1)).sum())
        total += batch
    assert same_top1 >= 0.95 * total
    if runs_bf16:  # not the fp32 numbers: bf16 really ran on the warmed shape
        x = rng.random((1, 3, 224, 224), dtype=np.float32)
        _, _, ref = reference_topk(resnet18_ref, x, 5)
        assert np.abs(model.forward(x) - ref).max() > 1e-4 * np.abs(ref).max()


def test_auto_picks_bf16_only_where_the_cpu_has_it(resnet18_path):
    model = pyfront.Model(resnet18_path, precision="auto")
    if NATIVE_BF16:
        assert (model.precision, model.precision_note) == ("bf16", "")
    else:
        assert model.precision == "fp32"
        assert "no native bf16" in model.precision_note


@pytest.fixture(scope="module")
def plain_path(tmp_path_factory):
    return export.export(
        "resnet18",
        weights="random",
        output=tmp_path_factory.mktemp("plain") / "plain.pt",
        seed=0,
        plain=True,
    )


@pytest.mark.parametrize(
    "case, reason",
    [
        ("keeps state", "keeps state between calls"),
        ("not frozen", "not frozen"),
        ("no warm-up", "warm-up shapes"),
        ("writes its input", "writes into its arguments"),
    ],
)
def test_models_bf16_cannot_be_checked_on_run_fp32_and_say_why(tmp_path, plain_path, case, reason):
    if case == "keeps state":
        model = pyfront.Model(zoo.save(zoo.Counter(), tmp_path / "m.pt"), precision="bf16")
    elif case == "not frozen":
        model = pyfront.Model(plain_path, precision="bf16", freeze=False)
    elif case == "no warm-up":
        model = pyfront.Model(plain_path, precision="bf16", warmup=[])
    else:
        model = pyfront.Model(
            zoo.save(zoo.InPlaceOnInput(), tmp_path / "m.pt"), precision="bf16", warmup=[(2, 8)]
        )
    assert model.precision == "fp32"
    assert reason in model.precision_note and "runs in fp32" in model.precision_note


def test_bf16_that_disagrees_at_load_runs_fp32(tmp_path, images):
    path = zoo.save(zoo.CancelsWithWeights(), tmp_path / "cancels.pt")
    model = pyfront.Model(path, precision="bf16", warmup=[(2, 8)])
    assert model.precision == "fp32"
    assert "differs by" in model.precision_note and "2x8" in model.precision_note
    x = images(2, 8)
    ref = torch.jit.load(str(path))(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model.forward(x), ref, rtol=1e-5, atol=0)


@pytest.mark.parametrize("fusion", [True, False], ids=["fused", "unfused"])
def test_a_new_shape_is_checked_before_its_bf16_results_are_used(tmp_path, fusion):
    """Cancels passes the load's check on inputs in [0, 1) and is far off in bf16 on inputs
    near 10: the shape first met with such inputs must keep giving torch's answers."""
    path = zoo.save(zoo.Cancels(), tmp_path / "cancels.pt")
    pyfront.set_fusion(fusion)
    try:
        model = pyfront.Model(path, precision="bf16", warmup=[(2, 8)])
    finally:
        pyfront.set_fusion(True)
    if model.precision != "bf16":
        pytest.skip(f"libtorch runs no bf16 on this CPU: {model.precision_note}")
    recipe = torch.jit.load(str(path))
    rng = np.random.default_rng(3)
    small = rng.random((2, 8), dtype=np.float32)
    assert np.abs(model.forward(small) - small).max() <= BF16_TOLERANCE
    large = rng.random((3, 8), dtype=np.float32) + 9
    ref = recipe(torch.from_numpy(large)).numpy()
    assert np.abs((large.astype(np.float64) ** 3 + large) - large**3).max() > 0  # sanity
    for _ in range(4):
        np.testing.assert_array_equal(model.forward(large), ref)

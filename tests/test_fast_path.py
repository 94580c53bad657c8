"""The fast path (frozen, fused, warmed up) is the default, gives the recipe's answers, and
each of its settings can be turned off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyfront

import export
import zoo
from conftest import reference_topk


@pytest.fixture(scope="module")
def plain_path(tmp_path_factory):
    """The recipe's file: torch.jit.script, saved as it is, same weights as resnet18_path."""
    return export.export(
        "resnet18",
        weights="random",
        output=tmp_path_factory.mktemp("plain") / "plain.pt",
        seed=0,
        plain=True,
    )


def test_default_is_frozen_and_fused(resnet18_path, plain_path):
    """Fused is only ever set by the load-time warm-up that checks fusion, so this also says
    the warm-up ran on the shapes the file stores."""
    for path in (resnet18_path, plain_path):  # a plain file is frozen when loaded
        model = pyfront.Model(path)
        assert model.frozen and model.fused


def test_fast_path_matches_the_recipe_on_100_inputs(resnet18_path, plain_path):
    """Target: top-5 equal to torch.jit.load on the plain scripted file, logits within 1e-4
    of the largest logit."""
    model = pyfront.Model(resnet18_path)
    recipe = torch.jit.load(str(plain_path))
    rng = np.random.default_rng(100)
    for _ in range(10):
        x = rng.random((10, 3, 224, 224), dtype=np.float32)
        ref_indices, _, ref_logits = reference_topk(recipe, x, 5)
        ours = model.topk(x, k=5)
        logits = model.forward(x)
        np.testing.assert_array_equal(ours.indices, ref_indices)
        scale = np.abs(ref_logits).max(axis=1, keepdims=True)
        assert (np.abs(logits - ref_logits) <= 1e-4 * scale).all()


def test_each_setting_turns_off(plain_path, images):
    x = images(2, 3, 224, 224)
    unfrozen = pyfront.Model(plain_path, freeze=False)
    assert not unfrozen.frozen and not unfrozen.fused  # the fuser is wrong on unfrozen graphs
    assert not pyfront.Model(plain_path, warmup=[]).fused  # fusion is checked during warm-up
    pyfront.set_fusion(False)
    try:
        assert not pyfront.get_fusion()
        unfused = pyfront.Model(plain_path)
        assert unfused.frozen and not unfused.fused
        # Everything off: exactly the recipe's torch.jit.load, bit for bit.
        as_saved = pyfront.Model(plain_path, freeze=False, warmup=[])
        _, _, ref_logits = reference_topk(torch.jit.load(str(plain_path)), x, 5)
        for _ in range(3):
            np.testing.assert_array_equal(as_saved.forward(x), ref_logits)
    finally:
        pyfront.set_fusion(True)
    assert pyfront.get_fusion()


def test_explicit_warmup_shapes(plain_path, images):
    model = pyfront.Model(plain_path, warmup=[(4, 3, 224, 224)], warmup_runs=2)
    assert model.fused
    with pytest.raises(pyfront.InferenceError, match="warm-up"):
        pyfront.Model(plain_path, warmup=[(1, 5, 224, 224)])  # a shape the model rejects
    with pytest.raises(pyfront.InvalidArgumentError):
        pyfront.Model(plain_path, warmup=[("a", 3)])


def test_a_model_the_fuser_breaks_stays_unfused_and_correct(tmp_path, images):
    """libtorch's fuser throws on this small conv + batch-norm + mean + constant model; the
    load-time check notices and keeps it unfused."""
    import fuzz_seeds  # scripts/ (conftest puts it on the path)

    path = fuzz_seeds.write_seed("small", tmp_path)
    model = pyfront.Model(path, warmup=[(2, 3, 16, 16)])
    assert model.frozen and not model.fused
    x = images(2, 3, 16, 16)
    ref = torch.jit.load(str(path))(torch.from_numpy(x)).detach().numpy()
    for _ in range(4):
        np.testing.assert_allclose(model.forward(x), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("nan_to", [None, 100.0], ids=["nan-result", "finite-result"])
def test_a_model_the_fuser_gets_wrong_stays_unfused_and_correct(tmp_path, images, nan_to):
    """libtorch's fused convolution + ReLU turns a NaN bias into 0 where torch.jit.load keeps
    NaN (zoo.ConvReLU). Fusion runs on this graph, and its answer differs: NaN against numbers
    (the check of finiteness), or, with the NaN replaced by 100 in the model, 100 against
    about 0.1 (the check of the 1e-4 tolerance). Either way the load keeps it unfused."""
    shape = (1, 3, 16, 16)
    control = zoo.save_frozen(zoo.ConvReLU(), tmp_path / "control.pt", shape)
    assert pyfront.Model(control).fused  # the fuser takes this graph when nothing is NaN

    path = zoo.save_frozen(zoo.ConvReLU(nan_bias=True, nan_to=nan_to), tmp_path / "nan.pt", shape)
    model = pyfront.Model(path)
    assert model.frozen and not model.fused
    ref = torch.jit.load(str(path))
    for x in (np.zeros(shape, np.float32), images(*shape)):
        expected = ref(torch.from_numpy(x)).numpy()
        assert np.isnan(expected).all() if nan_to is None else (expected == nan_to).all()
        for _ in range(3):
            np.testing.assert_array_equal(model.forward(x), expected)

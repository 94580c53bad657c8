"""Detecting objects in image files with an exported detection model: read, run, filter by
score, label, and optionally draw."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .classify import _ProgressBar, _reason
from .errors import UnsupportedOutputError
from .model import Model
from .preprocess import open_rgb


def check_detector(model: Model) -> None:
    """UnsupportedOutputError unless the file's metadata says it takes a list of images (as
    torchvision's detection models do); files without metadata are tried."""
    meta = model.metadata
    kind = (meta.get("input") or {}).get("kind")
    if meta.get("task") is None and "preprocessing" in meta:  # export.py's classifiers
        raise UnsupportedOutputError(
            f"{model.path} is a classification model; use pyfront classify"
        )
    if meta.get("task") not in (None, "detection") or kind not in (None, "image_list"):
        raise UnsupportedOutputError(
            f"{model.path} is a {meta.get('task', 'other')} model (input {kind}); detect runs "
            f"detection models, such as torchvision's exported with scripts/export.py"
        )


def as_model_input(image) -> np.ndarray:
    """A Pillow RGB image as the (3, H, W) float32 array in [0, 1] detection models take."""
    pixels = np.asarray(image, dtype=np.uint8)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / np.float32(255)


def detections_of(output, threshold: float, labels: list) -> list[dict]:
    """The detections of one image, best first, from torchvision's scripted output
    ((losses, [{"boxes", "labels", "scores", ...}])) or a bare list of such dicts."""
    result = output[1] if isinstance(output, tuple) and len(output) == 2 else output
    if (
        not isinstance(result, list)
        or not result
        or not isinstance(result[0], dict)
        or not {"boxes", "labels", "scores"} <= set(result[0])
    ):
        raise UnsupportedOutputError(
            "the model did not return detections (a list of dicts with boxes, labels and "
            "scores, as torchvision's detection models do)"
        )
    found = result[0]
    boxes, classes, scores = found["boxes"], found["labels"], found["scores"]
    order = np.argsort(-scores, kind="stable")
    return [
        {
            "box": [float(v) for v in boxes[i]],
            "index": int(classes[i]),
            "label": labels[classes[i]] if 0 <= classes[i] < len(labels) else str(int(classes[i])),
            "score": float(scores[i]),
        }
        for i in order
        if scores[i] >= threshold
    ]


def detect(
    paths, model: Model, threshold: float | None = None, out_dir=None, progress: bool = False
) -> Iterator[dict]:
    """Yields, per image in order, {"image", "width", "height", "detections": [{"box": [x1, y1,
    x2, y2], "index", "label", "score"}]} (plus "output": the drawn copy's path with
    `out_dir`), or {"image", "error"} for a file that cannot be read. The threshold defaults
    to the file's metadata (0.5 without)."""
    check_detector(model)
    meta = model.metadata
    labels = list(meta.get("labels") or [])
    if threshold is None:
        threshold = float(meta.get("score_threshold", 0.5))
    paths = [os.fspath(p) for p in paths]
    bar = _ProgressBar(len(paths)) if progress else None
    written: set = set()
    for path in paths:
        try:
            image = open_rgb(path)
        except Exception as error:  # noqa: BLE001 - any unreadable file is reported
            yield {"image": path, "error": _reason(error)}
        else:
            found = detections_of(model.forward([as_model_input(image)]), threshold, labels)
            result = {
                "image": path,
                "width": image.width,
                "height": image.height,
                "detections": found,
            }
            if out_dir is not None:
                from .draw import draw_detections

                target = _output_path(Path(out_dir), path, written)
                draw_detections(image, found).save(target)
                result["output"] = str(target)
            yield result
        if bar:
            bar.advance(1)
    if bar:
        bar.finish()


def _output_path(folder: Path, source: str, taken: set) -> Path:
    """folder/<name of the source>, made unique within this run; PNG when Pillow cannot write
    the source's format."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    name = Path(source)
    suffix = name.suffix.lower() if name.suffix.lower() in Image.registered_extensions() else ""
    if suffix not in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"):
        suffix = ".png"
    stem, number = name.stem, 1
    target = folder / f"{stem}{suffix}"
    while target in taken:
        number += 1
        target = folder / f"{stem}-{number}{suffix}"
    taken.add(target)
    return target

"""Classifying image files: read, preprocess, batch, top-k, label."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import numpy as np

from .model import Model
from .preprocess import Preprocessing, open_rgb, preprocess


def labels_of(model: Model) -> list:
    return list(model.metadata.get("labels") or [])


def classify(
    paths, model: Model, k: int = 5, batch_size: int = 8, progress: bool = False
) -> Iterator[dict]:
    """Yields, per image in order, {"image": path, "top": [{"index", "label", "prob"}, ...]}
    or {"image": path, "error": reason} for a file that cannot be read."""
    spec = Preprocessing.from_metadata(model.metadata)
    labels = labels_of(model)
    paths = [os.fspath(p) for p in paths]
    bar = _ProgressBar(len(paths)) if progress else None
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        yield from classify_batch(chunk, model, spec, labels, k)
        if bar:
            bar.advance(len(chunk))
    if bar:
        bar.finish()


def classify_batch(paths: list, model, spec: Preprocessing, labels: list, k: int) -> list:
    """classify's results for `paths`, run through the model as one batch."""
    results: dict = {}
    good, arrays = [], []
    for path in paths:
        try:
            arrays.append(preprocess(open_rgb(path), spec))
            good.append(path)
        except Exception as error:  # noqa: BLE001 - any unreadable file is reported
            results[path] = {"image": path, "error": _reason(error)}
    if arrays:
        top = model.topk(np.stack(arrays), k=k)
        for path, indices, probs in zip(good, top.indices, top.probs):
            results[path] = {
                "image": path,
                "top": [
                    {
                        "index": int(i),
                        "label": labels[i] if i < len(labels) else str(int(i)),
                        "prob": float(p),
                    }
                    for i, p in zip(indices, probs)
                ],
            }
    return [results[path] for path in paths]


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if not isinstance(error, OSError) else text


class _ProgressBar:
    def __init__(self, total: int):
        self.total, self.done = total, 0

    def advance(self, count: int) -> None:
        self.done += count
        filled = int(30 * self.done / max(self.total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} images")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()

"""The one rule for a single example where a batch is expected (`Model.topk`, `infer`, and
through them `IsolatedModel.topk` and `classify`): an array with one dimension fewer than the
model's input is one example, run as a batch of one, and its top-k come back shaped (1, k),
as a batch's would. The model's input rank is the one its file declares (the extra file
tsrt/input_shapes, else export's metadata); without one, a 3-D array is one CHW image.
`forward` applies no rule: it passes arguments as given, as torch would."""

from __future__ import annotations

import json

import numpy as np


def declared_input_ranks(extra_files: dict) -> frozenset:
    """The ranks of the input shapes the model file declares; empty when it declares none."""
    shapes = extra_files.get("tsrt/input_shapes", b"").decode("utf-8", "replace")
    ranks = {line.count("x") + 1 for line in shapes.splitlines() if line.strip()}
    if not ranks:
        try:
            shape = json.loads(extra_files.get("pyfront/meta.json") or "{}").get("input_shape")
        except (ValueError, AttributeError):
            shape = None
        if isinstance(shape, list) and shape:
            ranks = {len(shape)}
    return frozenset(ranks)


def as_batch(array: np.ndarray, input_ranks: frozenset) -> np.ndarray:
    """`array` as a batch: with a leading dimension of 1 added when it is a single example."""
    if input_ranks:
        single = array.ndim + 1 in input_ranks and array.ndim not in input_ranks
    else:
        single = array.ndim == 3
    return array[None] if single else array

"""`infer`: one call from a model file (or Model) and an image array to the top-k."""

from __future__ import annotations

import os

from . import _cache
from ._shared import TopK
from .model import Model


def _cached_model(path) -> Model:
    real = os.path.realpath(os.fspath(path))
    try:
        signature = _cache.file_signature(real)
    except OSError:
        return Model(path)  # raises the shim's precise error for this path
    key = ("Model", real, ())
    entry = _cache.lookup(key, signature)
    if entry is not None:
        return entry.model
    # Load outside any lock: a load takes a while and other models must stay usable.
    model = Model(real)
    _cache.store(key, signature, model)
    return model


def clear_cache() -> None:
    """Forgets every model `infer` loaded by path, and the copies kept for unpickled models
    (they are freed once unused)."""
    _cache.clear()


def infer(model, array, k: int = 5) -> TopK:
    """Top-k classes of `array` under `model`.

    `model` is a path to a TorchScript file (loaded once, and reloaded when the file changes)
    or a Model. `array` is a batch (N, C, H, W) or a single image (C, H, W), anything numpy
    can turn into float32, as Model.topk takes it. Returns TopK(indices, probs), both shaped
    (N, k); (1, k) for a single image.
    """
    if not isinstance(model, Model):
        model = _cached_model(model)
    return model.topk(array, k)

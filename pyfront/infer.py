"""`infer`: one call from a model file (or Model) and an image array to the top-k."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

from ._shared import TopK
from .model import Model

# Models loaded by path, most recently used last, each with the file signature it was loaded
# from. A handful is plenty; a model dropped here is freed once no caller still holds it.
_CACHE_SIZE = 8
_cache: "OrderedDict[str, tuple[tuple, Model]]" = OrderedDict()
_cache_lock = threading.Lock()


def _signature(path: str) -> tuple:
    info = os.stat(path)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _cached_model(path) -> Model:
    key = os.path.realpath(os.fspath(path))
    try:
        signature = _signature(key)
    except OSError:
        return Model(path)  # raises the shim's precise error for this path
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None and entry[0] == signature:
            _cache.move_to_end(key)
            return entry[1]
    # Load outside the lock: a load takes a while and other models must stay usable.
    model = Model(key)
    with _cache_lock:
        _cache[key] = (signature, model)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def clear_cache() -> None:
    """Forgets every model `infer` loaded by path (they are freed once unused)."""
    with _cache_lock:
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

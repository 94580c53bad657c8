"""What Model and IsolatedModel share, without touching the native library: the top-k result
type, input and argument checks, and reading export metadata."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

from .errors import InvalidArgumentError, ModelLoadError


class TopK(NamedTuple):
    """The k most probable classes of each row: `indices` (int64) and `probs` (float32),
    both shaped (N, k), most probable first."""

    indices: np.ndarray
    probs: np.ndarray


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgumentError(f"k must be a positive integer, got {k!r}")
    return int(k)


def metadata_of(extra_files: dict) -> dict:
    """The metadata scripts/export.py stores as the extra file pyfront/meta.json, or {}; a
    ModelLoadError when the file holds something else than a JSON object."""
    raw = extra_files.get("pyfront/meta.json")
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        problem = f"is not JSON ({error})"
    else:
        if isinstance(meta, dict):
            return meta
        problem = f"holds a {type(meta).__name__}, not a JSON object"
    raise ModelLoadError(
        f"the model's metadata (its extra file pyfront/meta.json) {problem}; export the model "
        f"again, or read the file's other contents with extra_files"
    )


def as_float32_input(array) -> np.ndarray:
    """The input as a C-contiguous float32 array; `array` itself when it already is one, so
    the shim reads the caller's memory without a copy."""
    try:
        converted = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(
            f"the input cannot be converted to a float32 array: {error}"
        ) from None
    if not converted.flags.c_contiguous:
        converted = np.ascontiguousarray(converted)
    return converted

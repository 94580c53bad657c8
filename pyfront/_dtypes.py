"""The element types that cross into libtsrt: the one table of them in Python.

Each numpy dtype is paired with the name of its code in tsrt.h's `tsrt_dtype`; the codes
themselves are read from the header (see _ffi.C), never written here. bfloat16 has no numpy
dtype: arrays of ml_dtypes' bfloat16 are accepted by name, and bfloat16 results come back
widened to float32 (exact: bfloat16 is the top half of a float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMPY_TO_ABI_NAME: dict[np.dtype[Any], str] = {
    np.dtype(np.float32): "TSRT_DTYPE_FLOAT32",
    np.dtype(np.float64): "TSRT_DTYPE_FLOAT64",
    np.dtype(np.float16): "TSRT_DTYPE_FLOAT16",
    np.dtype(np.int64): "TSRT_DTYPE_INT64",
    np.dtype(np.int32): "TSRT_DTYPE_INT32",
    np.dtype(np.int16): "TSRT_DTYPE_INT16",
    np.dtype(np.int8): "TSRT_DTYPE_INT8",
    np.dtype(np.uint8): "TSRT_DTYPE_UINT8",
    np.dtype(np.bool_): "TSRT_DTYPE_BOOL",
}
BFLOAT16_ABI_NAME = "TSRT_DTYPE_BFLOAT16"

# The dtypes a numpy array can have when it crosses (in either direction).
NUMPY_DTYPES: tuple[np.dtype[Any], ...] = tuple(NUMPY_TO_ABI_NAME)

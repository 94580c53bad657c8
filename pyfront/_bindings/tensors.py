"""numpy arrays to libtsrt's tensors and back."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._dtypes import BFLOAT16_ABI_NAME, NUMPY_TO_ABI_NAME
from .._ffi import C, ffi, lib

# numpy dtype <-> tsrt_dtype code, from the one table in _dtypes.
CODE_OF_DTYPE: dict[np.dtype[Any], int] = {
    dtype: getattr(C, name) for dtype, name in NUMPY_TO_ABI_NAME.items()
}
DTYPE_OF_CODE: dict[int, np.dtype[Any]] = {code: dtype for dtype, code in CODE_OF_DTYPE.items()}
BFLOAT16 = getattr(C, BFLOAT16_ABI_NAME)


def native_dtype_code(dtype: np.dtype[Any]) -> int | None:
    """The tsrt_dtype code of a numpy dtype in the machine's byte order: one of the table's,
    or ml_dtypes' bfloat16, known by its name (numpy has none); None for any other."""
    code = CODE_OF_DTYPE.get(dtype)
    if code is None and dtype.name == "bfloat16":
        return BFLOAT16
    return code


NOT_A_TENSOR = C.TSRT_DTYPE_UNKNOWN


_SHAPES: dict = {}


def shape_pointer(shape: tuple):
    """A C int64 array holding `shape`, cached: the same few shapes recur on every call."""
    pointer = _SHAPES.get(shape)
    if pointer is None:
        pointer = ffi.new("int64_t[]", shape) if shape else ffi.NULL
        if len(_SHAPES) < 1024:
            _SHAPES[shape] = pointer
    return pointer


def data_pointer(array: np.ndarray):
    """A pointer to the array's elements (NULL when it has none), without a copy; `array`
    must stay alive while the pointer is used."""
    return ffi.from_buffer(array, require_writable=False) if array.size else ffi.NULL


def from_info(info) -> np.ndarray:
    """A new numpy array holding the tensor that `info` (a tsrt_tensor_info) describes."""
    code = info.dtype
    ndim = info.ndim
    shape = tuple(info.shape[0:ndim]) if ndim else ()
    if code == BFLOAT16:
        raw = np.empty(shape, dtype=np.uint16)
        if info.nbytes:
            ffi.memmove(raw, info.data, info.nbytes)  # (memmove takes the array's buffer)
        wide = raw.astype(np.uint32)
        wide <<= 16  # in place: `wide << 16` of a 0-d array would be a scalar, not an array
        return wide.view(np.float32)
    result = np.empty(shape, dtype=DTYPE_OF_CODE[code])
    if info.nbytes:
        ffi.memmove(result, info.data, info.nbytes)
    return result


def take(tensor) -> np.ndarray:
    """Copies a tsrt_tensor handed out by the library into a new numpy array, and frees it."""
    library = lib()
    try:
        info = ffi.new("tsrt_tensor_info *")
        info.dtype = library.tsrt_tensor_dtype(tensor)
        info.ndim = library.tsrt_tensor_ndim(tensor)
        info.shape = library.tsrt_tensor_shape(tensor)
        info.data = library.tsrt_tensor_data(tensor)
        info.nbytes = library.tsrt_tensor_nbytes(tensor)
        return from_info(info)
    finally:
        library.tsrt_tensor_free(tensor)

"""Conversions between numpy arrays and the shim's tensors."""
from __future__ import annotations

import numpy as np

from ._ffi import ffi, lib
from .errors import InvalidArgumentError

_NUMPY_DTYPES = {
    lib.TSRT_DTYPE_FLOAT32: np.dtype(np.float32),
    lib.TSRT_DTYPE_FLOAT64: np.dtype(np.float64),
    lib.TSRT_DTYPE_FLOAT16: np.dtype(np.float16),
    lib.TSRT_DTYPE_INT64: np.dtype(np.int64),
    lib.TSRT_DTYPE_INT32: np.dtype(np.int32),
    lib.TSRT_DTYPE_INT16: np.dtype(np.int16),
    lib.TSRT_DTYPE_INT8: np.dtype(np.int8),
    lib.TSRT_DTYPE_UINT8: np.dtype(np.uint8),
    lib.TSRT_DTYPE_BOOL: np.dtype(np.bool_),
}


def as_float32_input(array) -> np.ndarray:
    """The input as a C-contiguous float32 array; `array` itself when it already is one, so
    the shim reads the caller's memory without a copy."""
    try:
        converted = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(
            f"the input cannot be converted to a float32 array: {error}") from None
    if not converted.flags.c_contiguous:
        converted = np.ascontiguousarray(converted)
    return converted


_SHAPES: dict = {}


def shape_pointer(shape: tuple):
    """A C int64 array holding `shape`, cached: the same few shapes recur on every call."""
    pointer = _SHAPES.get(shape)
    if pointer is None:
        pointer = ffi.new("int64_t[]", shape) if shape else ffi.NULL
        if len(_SHAPES) < 1024:
            _SHAPES[shape] = pointer
    return pointer


def input_pointers(array: np.ndarray):
    """(data, shape, ndim) arguments for the shim; `array` must stay alive during the call."""
    data = ffi.from_buffer("float[]", array)
    return data, shape_pointer(array.shape), array.ndim


def take_tensor_info(info) -> np.ndarray:
    """A new numpy array holding the tensor that `info` describes (see tsrt_tensor_info)."""
    code = info.dtype
    ndim = info.ndim
    shape = tuple(info.shape[0:ndim]) if ndim else ()
    if code == lib.TSRT_DTYPE_BFLOAT16:
        raw = np.empty(shape, dtype=np.uint16)
        if info.nbytes:
            ffi.memmove(ffi.from_buffer(raw), info.data, info.nbytes)
        # numpy has no bfloat16; widening to float32 is exact (bfloat16 is float32's top half).
        return (raw.astype(np.uint32) << 16).view(np.float32)
    result = np.empty(shape, dtype=_NUMPY_DTYPES[code])
    if info.nbytes:
        ffi.memmove(ffi.from_buffer(result), info.data, info.nbytes)
    return result


def take_tensor(tensor) -> np.ndarray:
    """Copies a tensor handed out by the shim into a new numpy array and frees the tensor."""
    try:
        info = ffi.new("tsrt_tensor_info *")
        info.dtype = lib.tsrt_tensor_dtype(tensor)
        info.ndim = lib.tsrt_tensor_ndim(tensor)
        info.shape = lib.tsrt_tensor_shape(tensor)
        info.data = lib.tsrt_tensor_data(tensor)
        info.nbytes = lib.tsrt_tensor_nbytes(tensor)
        return take_tensor_info(info)
    finally:
        lib.tsrt_tensor_free(tensor)

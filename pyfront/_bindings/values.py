"""Python objects to libtsrt's values and back: the TorchScript type mapping in one place.

    None <-> None          bool <-> bool       int <-> int (int64)     float <-> float
    str <-> str            numpy array <-> Tensor (dtype kept; a 0-d tensor is a 0-d array)
    tuple <-> Tuple        list <-> List       dict <-> Dict (keys: str, int, float, bool)

numpy scalars count as the Python scalar of their kind. bfloat16 tensors come back as float32
(numpy has no bfloat16; the widening is exact).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._ffi import C, ffi, lib
from ..errors import InvalidArgumentError, UnsupportedOutputError
from . import check
from .tensors import CODE_OF_DTYPE, data_pointer, native_dtype_code, shape_pointer, take

_INT64 = np.iinfo(np.int64)


def dtype_code(dtype: np.dtype[Any]) -> int:
    """The tsrt_dtype code of a numpy dtype (either byte order), or InvalidArgumentError."""
    code = native_dtype_code(dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype)
    if code is None:
        supported = ", ".join(sorted(d.name for d in CODE_OF_DTYPE))
        raise InvalidArgumentError(
            f"arrays of dtype {dtype} cannot be passed to a model (supported: {supported}, "
            f"bfloat16)"
        )
    return code


def lendable_dtype_code(array: np.ndarray):
    """The dtype code for an array the library can borrow as it is (C-contiguous, writable,
    native byte order; ml_dtypes' bfloat16 too), else None."""
    flags = array.flags
    if flags.c_contiguous and flags.writeable:
        return native_dtype_code(array.dtype)
    return None


class ValueBuilder:
    """Builds library values from Python objects and frees every handle it made on exit.
    Arrays whose memory the values borrow are kept alive until then."""

    def __init__(self) -> None:
        self._lib = lib()
        self._handles: list = []
        self._arrays: list = []

    def __enter__(self) -> ValueBuilder:
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            self._lib.tsrt_value_free(handle)
        self._handles.clear()
        self._arrays.clear()

    def _made(self, status: int, out):
        check(status)
        self._handles.append(out[0])
        return out[0]

    def build(self, obj):
        library = self._lib
        out = ffi.new("tsrt_value **")
        if obj is None:
            return self._made(library.tsrt_value_none(out), out)
        if isinstance(obj, (bool, np.bool_)):
            return self._made(library.tsrt_value_bool(bool(obj), out), out)
        if isinstance(obj, (int, np.integer)):
            if not _INT64.min <= int(obj) <= _INT64.max:
                raise InvalidArgumentError(f"the int {obj} does not fit in 64 bits")
            return self._made(library.tsrt_value_int(int(obj), out), out)
        if isinstance(obj, (float, np.floating)):
            return self._made(library.tsrt_value_float(float(obj), out), out)
        if isinstance(obj, str):
            data = obj.encode("utf-8")
            return self._made(library.tsrt_value_string(data, len(data), out), out)
        if isinstance(obj, np.ndarray):
            return self._tensor(obj, out)
        if isinstance(obj, tuple):
            items = [self.build(item) for item in obj]
            return self._made(library.tsrt_value_tuple(items, len(items), out), out)
        if isinstance(obj, list):
            items = [self.build(item) for item in obj]
            return self._made(library.tsrt_value_list(items, len(items), out), out)
        if isinstance(obj, dict):
            keys = [self.build(key) for key in obj]
            values = [self.build(value) for value in obj.values()]
            return self._made(library.tsrt_value_dict(keys, values, len(keys), out), out)
        if hasattr(obj, "__array__") and not isinstance(obj, (bytes, bytearray)):
            return self._tensor(np.asarray(obj), out)
        raise InvalidArgumentError(
            f"a {type(obj).__name__} cannot be passed to a TorchScript model: use numpy "
            f"arrays, int, float, bool, str, None, or tuples, lists and dicts of them"
        )

    def _tensor(self, array: np.ndarray, out):
        code = dtype_code(array.dtype)
        flags = C.TSRT_TENSOR_BORROW
        if not array.flags.c_contiguous or array.dtype.byteorder == ">":
            array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
        elif not array.flags.writeable:
            # A model may write into its input in place; read-only memory must not be lent.
            flags = C.TSRT_TENSOR_COPY
        self._arrays.append(array)
        return self._made(
            self._lib.tsrt_value_tensor(
                data_pointer(array), code, shape_pointer(array.shape), array.ndim, flags, out
            ),
            out,
        )


def to_python(value):
    """The Python object for a library value (which stays owned by the caller)."""
    library = lib()
    kind = library.tsrt_value_get_kind(value)
    if kind == C.TSRT_VALUE_TENSOR:
        tensor = ffi.new("tsrt_tensor **")
        check(library.tsrt_value_get_tensor(value, tensor))
        return take(tensor[0])
    if kind == C.TSRT_VALUE_NONE:
        return None
    if kind == C.TSRT_VALUE_INT:
        integer = ffi.new("int64_t *")
        check(library.tsrt_value_get_int(value, integer))
        return int(integer[0])
    if kind == C.TSRT_VALUE_FLOAT:
        real = ffi.new("double *")
        check(library.tsrt_value_get_float(value, real))
        return float(real[0])
    if kind == C.TSRT_VALUE_BOOL:
        flag = ffi.new("int *")
        check(library.tsrt_value_get_bool(value, flag))
        return bool(flag[0])
    if kind == C.TSRT_VALUE_STRING:
        data, size = ffi.new("const char **"), ffi.new("size_t *")
        check(library.tsrt_value_get_string(value, data, size))
        return ffi.unpack(data[0], size[0]).decode("utf-8", "surrogateescape")
    if kind in (C.TSRT_VALUE_TUPLE, C.TSRT_VALUE_LIST):
        items = [_item(value, index) for index in range(library.tsrt_value_length(value))]
        return tuple(items) if kind == C.TSRT_VALUE_TUPLE else items
    if kind == C.TSRT_VALUE_DICT:
        return dict(_dict_item(value, index) for index in range(library.tsrt_value_length(value)))
    type_name = ffi.string(library.tsrt_value_type(value)).decode()
    raise UnsupportedOutputError(
        f"the model returned a {type_name}, which has no Python equivalent in pyfront"
    )


def take_value(value):
    """to_python, then frees the value."""
    try:
        return to_python(value)
    finally:
        lib().tsrt_value_free(value)


def _item(value, index: int):
    out = ffi.new("tsrt_value **")
    check(lib().tsrt_value_get_item(value, index, out))
    return take_value(out[0])


def _dict_item(value, index: int):
    key, item = ffi.new("tsrt_value **"), ffi.new("tsrt_value **")
    check(lib().tsrt_value_get_dict_item(value, index, key, item))
    try:
        return take_value(key[0]), to_python(item[0])
    finally:
        lib().tsrt_value_free(item[0])

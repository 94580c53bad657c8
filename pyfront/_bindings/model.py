"""Model calls: load, run, top-k, describe, close."""

from __future__ import annotations

import os
import threading

import numpy as np

from .._ffi import C, ffi, lib
from ..errors import UnsupportedOutputError
from . import check
from .tensors import NOT_A_TENSOR, data_pointer, from_info, shape_pointer
from .values import ValueBuilder, take_value


class _Scratch(threading.local):
    """Per-thread out-parameters for the hot path, allocated once per thread."""

    def __init__(self) -> None:
        self.value = ffi.new("tsrt_value **")
        self.info = ffi.new("tsrt_tensor_info *")
        self.pair = (self.value, self.info)
        self.tensor = ffi.new("tsrt_tensor **")


_scratch = _Scratch()


def load_path(path: str, options):
    """A model handle loaded from a file, freed when garbage collected (or by `free`)."""
    library = lib()
    out = ffi.new("tsrt_model **")
    check(library.tsrt_model_load(os.fsencode(path), options, out), filename=path)
    return ffi.gc(out[0], library.tsrt_model_free)


def load_buffer(data, options):
    """A model handle loaded from the bytes of a saved file."""
    library = lib()
    buffer = ffi.from_buffer(data)
    out = ffi.new("tsrt_model **")
    check(library.tsrt_model_load_buffer(buffer, len(buffer), options, out))
    return ffi.gc(out[0], library.tsrt_model_free)


def close(model) -> None:
    lib().tsrt_model_close(model)  # cffi releases the GIL while it waits for calls in flight


def device(model) -> str:
    return ffi.string(lib().tsrt_model_device(model)).decode()


def one_array_runner(model):
    """The hot path, as a function of (name, array, code) for this model: method `name` on one
    borrowed array (of tsrt_dtype `code`), the result copied into a new numpy array. Made
    once per model, with everything a call needs bound to local names, which is measurably
    cheaper per call than looking them up."""
    library = lib()
    run, free = library.tsrt_model_run_tensor, library.tsrt_value_free
    from_buffer, null, scratch = ffi.from_buffer, ffi.NULL, _scratch

    def run_one_array(name: bytes, array: np.ndarray, code: int):
        value_out, info = scratch.pair
        data = from_buffer(array, require_writable=False) if array.size else null
        status = run(
            model, name, data, code, shape_pointer(array.shape), array.ndim, value_out, info
        )
        if status:
            check(status)
        value = value_out[0]
        if info.dtype == NOT_A_TENSOR:
            return take_value(value)
        try:
            return from_info(info)
        finally:
            free(value)

    return run_one_array


def bind_into(model, name: bytes, array: np.ndarray, code: int, out: np.ndarray, out_code: int):
    """A function of no arguments that runs method `name` on what `array` holds at the time
    and writes the result into `out` (tsrt_model_run_tensor_into). The pointers are taken
    once, here: the cdata objects hold both arrays, so numpy refuses to resize them in place
    while the function lives. That is what makes a call cheap."""
    run = lib().tsrt_model_run_tensor_into
    data, shape, ndim = data_pointer(array), shape_pointer(array.shape), array.ndim
    out_data = ffi.from_buffer(out, require_writable=True) if out.size else ffi.NULL
    out_shape, out_ndim = shape_pointer(out.shape), out.ndim

    def call() -> None:
        status = run(model, name, data, code, shape, ndim, out_data, out_code, out_shape, out_ndim)
        if status:
            check(status)

    return call


def run_method(model, name: bytes, args: tuple):
    """Method `name` with any arguments, as Python objects in and out."""
    library = lib()
    out = ffi.new("tsrt_value **")
    with ValueBuilder() as values:
        handles = [values.build(arg) for arg in args]
        check(library.tsrt_model_run_method(model, name, handles, len(handles), out))
    return take_value(out[0])


def topk(model, array: np.ndarray, k: int):
    """forward once on a float32 array, then softmax + top-k of its (N, C) result in C++:
    (indices, probs), both (N, k). The buffers are sized from the result, so the model runs
    once whatever number of rows it returns."""
    library = lib()
    scratch = _scratch
    check(
        library.tsrt_model_run_tensor(
            model,
            b"forward",
            data_pointer(array),
            C.TSRT_DTYPE_FLOAT32,
            shape_pointer(array.shape),
            array.ndim,
            scratch.value,
            scratch.info,
        )
    )
    value = scratch.value[0]
    try:
        if scratch.info.dtype == NOT_A_TENSOR:
            raise UnsupportedOutputError(
                f"forward returned {_describe(value)}, but top-k needs a single (N, C) tensor "
                f"of logits"
            )
        check(library.tsrt_value_get_tensor(value, scratch.tensor))
    finally:
        library.tsrt_value_free(value)
    logits = scratch.tensor[0]
    try:
        dims = library.tsrt_tensor_ndim(logits)
        rows = library.tsrt_tensor_shape(logits)[0] if dims == 2 else 0
        indices = np.empty((rows, k), dtype=np.int64)
        probs = np.empty((rows, k), dtype=np.float32)
        check(
            library.tsrt_tensor_softmax_topk(
                logits,
                k,
                ffi.from_buffer("int64_t[]", indices),
                ffi.from_buffer("float[]", probs),
                indices.size,
            )
        )
    finally:
        library.tsrt_tensor_free(logits)
    return indices, probs


def method_names(model) -> list:
    library = lib()
    return [
        ffi.string(library.tsrt_model_method_name(model, i)).decode()
        for i in range(library.tsrt_model_method_count(model))
    ]


def schema(model, name: str) -> str:
    out = ffi.new("const char **")
    check(lib().tsrt_model_method_schema(model, name.encode(), out))
    return ffi.string(out[0]).decode()


def extra_files(model) -> dict:
    library = lib()
    files = {}
    data, size = ffi.new("const void **"), ffi.new("size_t *")
    for index in range(library.tsrt_model_extra_file_count(model)):
        name = ffi.string(library.tsrt_model_extra_file_name(model, index))
        check(library.tsrt_model_extra_file(model, name, data, size))
        files[name.decode("utf-8", "surrogateescape")] = ffi.unpack(
            ffi.cast("const char *", data[0]), size[0]
        )
    return files


def parameter_count(model) -> int:
    return lib().tsrt_model_parameter_count(model)


def run_flags(model) -> dict:
    flags = lib().tsrt_model_run_flags(model)
    return {"frozen": bool(flags & C.TSRT_RUN_FROZEN), "fused": bool(flags & C.TSRT_RUN_FUSED)}


def precision(model) -> str:
    """ "fp32" or "bf16": what forward really runs with."""
    code = lib().tsrt_model_precision(model)
    return "bf16" if code == C.TSRT_PRECISION_BF16 else "fp32"


def precision_note(model) -> str:
    return ffi.string(lib().tsrt_model_precision_note(model)).decode()


_FORMAT_NAMES = {"TSRT_FORMAT_TORCHSCRIPT": "torchscript", "TSRT_FORMAT_AOTI_PACKAGE": "pt2"}


def model_format(model) -> str:
    """ "torchscript" or "pt2" (an AOTInductor package): what the model was loaded from."""
    code = lib().tsrt_model_format(model)
    for name, text in _FORMAT_NAMES.items():
        if code == getattr(C, name):
            return text
    return "unknown"


def keeps_state(model) -> bool:
    return lib().tsrt_model_keeps_state(model) == 1


_KIND_NAMES = {
    value: name[len("TSRT_VALUE_") :].title()
    for name, value in vars(C).items()
    if name.startswith("TSRT_VALUE_")
}


def _describe(value) -> str:
    """ "a Tuple (Tensor, Tensor)": the kind and TorchScript type of a library value."""
    library = lib()
    kind = _KIND_NAMES.get(library.tsrt_value_get_kind(value), "value")
    return f"a {kind} {ffi.string(library.tsrt_value_type(value)).decode()}"

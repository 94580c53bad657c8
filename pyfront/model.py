"""`Model`: a loaded TorchScript module, run through libtsrt."""
from __future__ import annotations

import json
import os
import threading
from typing import NamedTuple

import numpy as np

from ._ffi import ffi, lib
from ._tensors import as_float32_input, input_pointers, shape_pointer, take_tensor_info
from ._values import ValueBuilder, dtype_code_or_none, take_value
from .errors import InvalidArgumentError, ModelClosedError, check


class TopK(NamedTuple):
    """The k most probable classes of each row: `indices` (int64) and `probs` (float32),
    both shaped (N, k), most probable first."""

    indices: np.ndarray
    probs: np.ndarray


class _Scratch(threading.local):
    """Per-thread out-parameters for the hot path, allocated once per thread."""

    def __init__(self):
        self.value = ffi.new("tsrt_value **")
        self.info = ffi.new("tsrt_tensor_info *")
        self.rows = ffi.new("int64_t *")


_scratch = _Scratch()
_NOT_A_TENSOR = lib.TSRT_DTYPE_UNKNOWN


_PRECISIONS = {"fp32": lib.TSRT_PRECISION_FP32, "bf16": lib.TSRT_PRECISION_BF16,
               "auto": lib.TSRT_PRECISION_AUTO}


def _options(device, max_file_size, debug_info, freeze, warmup, warmup_runs,
             precision="fp32"):
    if not isinstance(device, str):
        raise InvalidArgumentError(f"device must be a str such as 'cpu', got {device!r}")
    pointer = ffi.new("tsrt_options **")
    check(lib.tsrt_options_new(pointer))
    options = ffi.gc(pointer[0], lib.tsrt_options_free)
    check(lib.tsrt_options_set_device(options, device.encode()))
    if max_file_size is not None:
        if isinstance(max_file_size, bool) or not isinstance(max_file_size, int) \
                or max_file_size < 1:
            raise InvalidArgumentError(
                f"max_file_size must be a positive number of bytes, got {max_file_size!r}")
        check(lib.tsrt_options_set_max_file_size(options, max_file_size))
    check(lib.tsrt_options_set_debug_info(options, bool(debug_info)))
    check(lib.tsrt_options_set_freeze(options, bool(freeze)))
    if isinstance(warmup_runs, bool) or not isinstance(warmup_runs, int):
        raise InvalidArgumentError(f"warmup_runs must be an int, got {warmup_runs!r}")
    check(lib.tsrt_options_set_warmup_runs(options, warmup_runs))
    if not isinstance(precision, str) or precision not in _PRECISIONS:
        raise InvalidArgumentError(
            f"precision must be 'fp32', 'bf16' or 'auto', got {precision!r}")
    check(lib.tsrt_options_set_precision(options, _PRECISIONS[precision]))
    if warmup is not None:
        check(lib.tsrt_options_clear_warmup_shapes(options))
        for shape in warmup:
            try:
                dims = [int(d) for d in shape]
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"warmup takes a list of shapes such as [(1, 3, 224, 224)], got {warmup!r}"
                ) from None
            check(lib.tsrt_options_add_warmup_shape(options, dims, len(dims)))
    return options


class Model:
    """A TorchScript module loaded from a file path or from the bytes of a saved file.

    Fast by default: a plain scripted module is frozen at load (`freeze=False` keeps it as
    saved), and the load warms the model up (`warmup_runs` runs on each shape of `warmup`, by
    default the input shapes stored by scripts/export.py; `warmup=[]` for none).

    `precision="bf16"` runs forward with bfloat16 weights and activations (inputs and results
    stay float32), `"auto"` does so only where the CPU computes bfloat16 natively (AMX or
    AVX512-BF16); either is checked against float32 at load and falls back to it (see
    `precision` and `precision_note`). The default `"fp32"` leaves the numbers as saved.

    Runs on `device` ("cpu", "cuda" or "cuda:N"). `max_file_size` (bytes) refuses larger files
    before reading them. `debug_info=True` loads the file's debug records so that errors
    quote the original Python source; only for trusted files (see tsrt.h).

    Close it with `close()` or use it as a context manager; the native memory is also freed
    when the object is garbage collected. One Model may be called from several threads at
    once, and closed while they run: close waits for them, later calls raise.
    """

    def __init__(self, source, device: str = "cpu", *, freeze: bool = True, warmup=None,
                 warmup_runs: int = 3, max_file_size: int | None = None,
                 debug_info: bool = False, precision: str = "fp32"):
        options = _options(device, max_file_size, debug_info, freeze, warmup, warmup_runs,
                           precision)
        out = ffi.new("tsrt_model **")
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = ffi.from_buffer(source)
            check(lib.tsrt_model_load_buffer(data, len(data), options, out))
            self.path = None
        else:
            try:
                path = os.fspath(source)
            except TypeError:
                raise InvalidArgumentError(
                    f"a model is loaded from a path or bytes, not a {type(source).__name__}"
                ) from None
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if "\0" in path:
                raise InvalidArgumentError(f"the path {path!r} contains a NUL character")
            check(lib.tsrt_model_load(os.fsencode(path), options, out), filename=path)
            self.path = path
        self._handle = ffi.gc(out[0], lib.tsrt_model_free)
        self._closed = False
        self.device = ffi.string(lib.tsrt_model_device(self._handle)).decode()
        self._extra_files = self._read_extra_files()

    # -- calling ----------------------------------------------------------------------------

    def forward(self, *args):
        """Calls the model's `forward` with `args`, as `model(*args)` would in Python.

        numpy arrays are passed as tensors of the same dtype (a C-contiguous, writable array
        without a copy); int, float, bool, str, None and tuples, lists and dicts of these as
        the TorchScript values they are. The result comes back the same way: tensors as new
        numpy arrays, containers as tuples, lists and dicts."""
        return self._call(b"forward", args)

    def run_method(self, name: str, *args):
        """Calls the method `name` of the model with `args`; see `forward`."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"the method name must be a str, got {name!r}")
        return self._call(name.encode(), args)

    def _call(self, name: bytes, args: tuple):
        if len(args) == 1 and type(args[0]) is np.ndarray:
            code = dtype_code_or_none(args[0])
            if code is not None:
                return self._run_one_array(name, args[0], code)
        out = ffi.new("tsrt_value **")
        with ValueBuilder() as values:
            handles = [values.build(arg) for arg in args]
            check(lib.tsrt_model_run_method(self._handle, name, handles, len(handles), out))
        return take_value(out[0])

    def _run_one_array(self, name: bytes, array: np.ndarray, code: int):
        """The hot path: one C call in, the result copied straight into a new numpy array."""
        scratch = _scratch
        status = lib.tsrt_model_run_tensor(
            self._handle, name, ffi.from_buffer(array) if array.size else ffi.NULL, code,
            shape_pointer(array.shape), array.ndim, scratch.value, scratch.info)
        if status:
            check(status)
        value = scratch.value[0]
        if scratch.info.dtype == _NOT_A_TENSOR:
            return take_value(value)
        try:
            return take_tensor_info(scratch.info)
        finally:
            lib.tsrt_value_free(value)

    def topk(self, array, k: int = 5) -> TopK:
        """forward, softmax over the classes and the k most probable, computed in C++. The
        model must return (N, C) logits."""
        array = as_float32_input(array)
        k = _check_k(k)
        rows = array.shape[0] if array.ndim else 1
        indices = np.empty((rows, k), dtype=np.int64)
        probs = np.empty((rows, k), dtype=np.float32)
        data, shape, ndim = input_pointers(array)
        out_rows = _scratch.rows
        status = lib.tsrt_model_topk(
            self._handle, data, shape, ndim, k,
            ffi.from_buffer("int64_t[]", indices), ffi.from_buffer("float[]", probs),
            indices.size, out_rows)
        if status == lib.TSRT_ERR_BUFFER_TOO_SMALL:
            # The model returned more rows than the input had: size the buffers from its output.
            return self._topk_sized_by_output(data, shape, ndim, k)
        check(status)
        return TopK(indices[:out_rows[0]], probs[:out_rows[0]])

    def _topk_sized_by_output(self, data, shape, ndim, k: int) -> TopK:
        out = ffi.new("tsrt_tensor **")
        check(lib.tsrt_model_forward(self._handle, data, shape, ndim, out))
        logits = out[0]
        try:
            dims = lib.tsrt_tensor_ndim(logits)
            rows = lib.tsrt_tensor_shape(logits)[0] if dims else 0
            indices = np.empty((rows, k), dtype=np.int64)
            probs = np.empty((rows, k), dtype=np.float32)
            check(lib.tsrt_tensor_softmax_topk(
                logits, k, ffi.from_buffer("int64_t[]", indices),
                ffi.from_buffer("float[]", probs), indices.size))
        finally:
            lib.tsrt_tensor_free(logits)
        return TopK(indices, probs)

    # -- introspection ----------------------------------------------------------------------

    def method_names(self) -> list:
        """The names of the model's methods (forward among them)."""
        count = lib.tsrt_model_method_count(self._live_handle())
        return [ffi.string(lib.tsrt_model_method_name(self._handle, i)).decode()
                for i in range(count)]

    def schema(self, name: str = "forward") -> str:
        """The TorchScript schema of a method: argument names and types, and return type."""
        out = ffi.new("const char **")
        check(lib.tsrt_model_method_schema(self._live_handle(), name.encode(), out))
        return ffi.string(out[0]).decode()

    @property
    def extra_files(self) -> dict:
        """The extra files stored in the model file, as {name: bytes}."""
        return dict(self._extra_files)

    @property
    def metadata(self) -> dict:
        """The metadata stored by scripts/export.py (pyfront/meta.json), or {}."""
        return metadata_of(self._extra_files)

    @property
    def parameter_count(self) -> int:
        """The number of parameter elements, submodules included, as the file stores them
        (0 for a file frozen at export, whose weights are constants, as in torch)."""
        return lib.tsrt_model_parameter_count(self._live_handle())

    @property
    def frozen(self) -> bool:
        """True when the weights are constants (the file was frozen, or frozen at load)."""
        return bool(lib.tsrt_model_run_flags(self._live_handle()) & lib.TSRT_RUN_FROZEN)

    @property
    def fused(self) -> bool:
        """True when the model runs with oneDNN Graph fusion, checked at load against the
        unfused model (needs warm-up shapes; see `Model`)."""
        return bool(lib.tsrt_model_run_flags(self._live_handle()) & lib.TSRT_RUN_FUSED)

    @property
    def precision(self) -> str:
        """"fp32" or "bf16": what forward really runs with."""
        code = lib.tsrt_model_precision(self._live_handle())
        return "bf16" if code == lib.TSRT_PRECISION_BF16 else "fp32"

    @property
    def precision_note(self) -> str:
        """Why the model runs with another precision than asked for, or a remark on the one it
        runs with; "" when there is nothing to say."""
        return ffi.string(lib.tsrt_model_precision_note(self._live_handle())).decode()

    @property
    def keeps_state(self) -> bool:
        """True when some method may change the model's attributes; calls on it are then
        serialised (see tsrt.h, "Threads and state")."""
        return lib.tsrt_model_keeps_state(self._live_handle()) == 1

    def _read_extra_files(self) -> dict:
        files = {}
        data, size = ffi.new("const void **"), ffi.new("size_t *")
        for index in range(lib.tsrt_model_extra_file_count(self._handle)):
            name = ffi.string(lib.tsrt_model_extra_file_name(self._handle, index))
            check(lib.tsrt_model_extra_file(self._handle, name, data, size))
            files[name.decode("utf-8", "surrogateescape")] = ffi.unpack(
                ffi.cast("const char *", data[0]), size[0])
        return files

    def _live_handle(self):
        if self._closed:
            raise ModelClosedError("the model is closed")
        return self._handle

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Frees the model's weights and code once the calls running in other threads have
        finished. Closing twice is harmless; any call after closing raises ModelClosedError."""
        self._closed = True
        lib.tsrt_model_close(self._handle)  # releases the GIL while it waits

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = repr(self.path) if self.path is not None else "<bytes>"
        state = "closed" if self.closed else self.device
        return f"<pyfront.Model {where} on {state}>"


def metadata_of(extra_files: dict) -> dict:
    """The metadata scripts/export.py stores as the extra file pyfront/meta.json, or {}."""
    raw = extra_files.get("pyfront/meta.json")
    return json.loads(raw) if raw else {}


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgumentError(f"k must be a positive integer, got {k!r}")
    return int(k)

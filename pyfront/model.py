"""`Model`: a loaded TorchScript module, run through libtsrt."""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence, Union

import numpy as np

from . import _recipe
from ._batch import as_batch, declared_input_ranks
from ._bindings import model as _native
from ._bindings.options import new_options
from ._bindings.values import lendable_dtype_code
from ._shared import TopK, as_float32_input, check_k, metadata_of
from ._torchvision_ops import load_with_operators
from .bound_call import BoundCall
from .errors import InvalidArgumentError, ModelClosedError

__all__ = ["Model", "TopK", "metadata_of"]

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


class Model:
    """A TorchScript module loaded from a file path or from the bytes of a saved file, or an
    AOTInductor package (`.pt2`, see `format`): libtsrt tells them apart by their content.

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

    Pickling a Model pickles how to load it (its file's path and fingerprint, or its bytes, and
    these options), not its weights: see pyfront/_recipe.py.

    Close it with `close()` or use it as a context manager; the native memory is also freed
    when the object is garbage collected. One Model may be called from several threads at
    once, and closed while they run: close waits for them, later calls raise.
    """

    path: str | None
    device: str

    @_recipe.records_load
    def __init__(
        self,
        source: Source,
        device: str = "cpu",
        *,
        freeze: bool = True,
        warmup: Iterable[Sequence[int]] | None = None,
        warmup_runs: int = 3,
        max_file_size: int | None = None,
        debug_info: bool = False,
        precision: str = "fp32",
    ) -> None:
        options = new_options(
            device, max_file_size, debug_info, freeze, warmup, warmup_runs, precision
        )
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path = None
            self._handle = load_with_operators(lambda: _native.load_buffer(source, options))
        else:
            path = self.path = _path_of(source)
            self._handle = load_with_operators(lambda: _native.load_path(path, options))
        self._closed = False
        self._run_one_array = _native.one_array_runner(self._handle)
        self.device = _native.device(self._handle)
        self._format = _native.model_format(self._handle)
        self._extra_files = _native.extra_files(self._handle)
        self._input_ranks = declared_input_ranks(self._extra_files)

    # -- calling ----------------------------------------------------------------------------

    def forward(self, *args: Any) -> Any:
        """Calls the model's `forward` with `args`, as `model(*args)` would in Python.

        numpy arrays are passed as tensors of the same dtype (a C-contiguous, writable array
        without a copy); int, float, bool, str, None and tuples, lists and dicts of these as
        the TorchScript values they are. The result comes back the same way: tensors as new
        numpy arrays, containers as tuples, lists and dicts."""
        return self._call(b"forward", args)

    def run_method(self, name: str, *args: Any) -> Any:
        """Calls the method `name` of the model with `args`; see `forward`."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"the method name must be a str, got {name!r}")
        return self._call(name.encode(), args)

    def _call(self, name: bytes, args: tuple) -> Any:
        if len(args) == 1 and type(args[0]) is np.ndarray:
            code = lendable_dtype_code(args[0])
            if code is not None:
                return self._run_one_array(name, args[0], code)
        return _native.run_method(self._handle, name, args)

    def bind(
        self, array: np.ndarray, *, out: np.ndarray | None = None, method: str = "forward"
    ) -> BoundCall:
        """`method` bound to `array` and `out` (numpy arrays, C-contiguous and writable), for
        calls that cost the least: each call of the result runs the method on what `array`
        holds then, writes the result into `out` and returns `out`. `out` is allocated by the
        first call unless given. See BoundCall."""
        if not isinstance(method, str):
            raise InvalidArgumentError(f"the method name must be a str, got {method!r}")
        return BoundCall(self._live_handle(), self._run_one_array, array, out, method)

    def topk(self, array: Any, k: int = 5) -> TopK:
        """forward once, then softmax over the classes and the k most probable of each row,
        computed in C++. The model must return (N, C) logits. `array` is a batch, or a single
        example such as one CHW image (see pyfront/_batch.py), which gives a batch of one:
        (1, k) results."""
        k = check_k(k)
        array = as_batch(as_float32_input(array), self._input_ranks)
        indices, probs = _native.topk(self._handle, array, k)
        return TopK(indices, probs)

    # -- introspection ----------------------------------------------------------------------

    def method_names(self) -> list[str]:
        """The names of the model's methods (forward among them)."""
        return _native.method_names(self._live_handle())

    def schema(self, name: str = "forward") -> str:
        """The TorchScript schema of a method: argument names and types, and return type."""
        return _native.schema(self._live_handle(), name)

    @property
    def extra_files(self) -> dict[str, bytes]:
        """The extra files stored in the model file, as {name: bytes}."""
        return dict(self._extra_files)

    @property
    def metadata(self) -> dict:
        """The metadata stored by scripts/export.py (pyfront/meta.json), or {}."""
        return metadata_of(self._extra_files)

    @property
    def parameter_count(self) -> int:
        """The number of parameter elements, submodules included, as
        sum(p.numel() for p in module.parameters()) gives before freezing: for a frozen file,
        whose weights are constants, the count export recorded (0 if none is recorded)."""
        return _native.parameter_count(self._live_handle())

    @property
    def frozen(self) -> bool:
        """True when the weights are constants (the file was frozen, or frozen at load)."""
        return _native.run_flags(self._live_handle())["frozen"]

    @property
    def fused(self) -> bool:
        """True when the model runs with oneDNN Graph fusion, checked at load against the
        unfused model (needs warm-up shapes; see `Model`)."""
        return _native.run_flags(self._live_handle())["fused"]

    @property
    def precision(self) -> str:
        """ "fp32" or "bf16": what forward really runs with."""
        return _native.precision(self._live_handle())

    @property
    def precision_note(self) -> str:
        """Why the model runs with another precision than asked for, or a remark on the one it
        runs with; "" when there is nothing to say."""
        return _native.precision_note(self._live_handle())

    @property
    def format(self) -> str:
        """ "torchscript" for a TorchScript file, "pt2" for an AOTInductor package (compiled
        native code that runs inside this process: see the README's .pt2 section)."""
        return self._format

    @property
    def keeps_state(self) -> bool:
        """True when some method may change the model's attributes; calls on it are then
        serialised (see tsrt.h, "Threads and state")."""
        return _native.keeps_state(self._live_handle())

    def _live_handle(self):
        if self._closed:
            raise ModelClosedError("the model is closed")
        return self._handle

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Frees the model's weights and code once the calls running in other threads have
        finished. Closing twice is harmless; any call after closing raises ModelClosedError."""
        self._closed = True
        _native.close(self._handle)

    @property
    def closed(self) -> bool:
        return self._closed

    def __reduce__(self):
        return _recipe.reduce(self)

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = repr(self.path) if self.path is not None else "<bytes>"
        state = "closed" if self.closed else self.device
        return f"<pyfront.Model {where} on {state}>"


def _path_of(source: Any) -> str:
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
    return path

"""`BoundCall`: a model's method bound to an input array and an output array, for the
cheapest repeated call (what ONNX Runtime calls IO binding)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._bindings import model as _native
from ._bindings.values import lendable_dtype_code
from .errors import InvalidArgumentError, UnsupportedOutputError

__all__ = ["BoundCall"]


class BoundCall:
    """Made by `Model.bind(array)`. Each call runs the method on what `array` holds at that
    moment and returns `out`: the same numpy array every time, overwritten by each call.

    Both arrays are lent to the call for its whole life. That is what saves the per-call work
    of a plain `forward` (looking at the arrays, and allocating and copying a result): write
    the next input into `array` (`array[...] = x`) and call again. The BoundCall holds both
    arrays, so numpy refuses to resize them in place (unless told not to check, with
    `refcheck=False`, which is unsafe for any view of an array); let go of it to end that.

    `out` is allocated by the first call, from its result, unless given to `bind`. Every
    result must have `out`'s shape and dtype (a bfloat16 result fills a float32 `out`); one
    that does not raises InvalidArgumentError and leaves `out` as it was, as does any failed
    call. Call it from one thread at a time, as one would write into its arrays.
    """

    __slots__ = ("input", "out", "method", "_model", "_handle", "_run")

    def __init__(
        self, model: Any, handle: Any, array: np.ndarray, out: np.ndarray | None, method: str
    ) -> None:
        self.input = array
        self.out = out
        self.method = method
        self._model = model  # for the first call, which goes through its plain path
        self._handle = handle
        self._run: Callable[[], None] | None = None
        code = _lendable_code(array, "array")
        if out is not None:
            self._run = _native.bind_into(
                handle, method.encode(), array, code, out, _lendable_code(out, "out")
            )

    def __call__(self) -> np.ndarray:
        run = self._run
        if run is None:
            return self._first_call()
        run()
        return self.out  # type: ignore[return-value]  # (set whenever _run is)

    def _first_call(self) -> np.ndarray:
        result = self._model.run_method(self.method, self.input)
        if type(result) is not np.ndarray:
            raise UnsupportedOutputError(
                f"{self.method} returned a {type(result).__name__}, but a BoundCall needs a "
                f"method that returns one tensor; call it with Model.run_method instead"
            )
        code = _lendable_code(self.input, "array")
        self._run = _native.bind_into(
            self._handle,
            self.method.encode(),
            self.input,
            code,
            result,
            _lendable_code(result, "out"),
        )
        self.out = result
        return result

    def __repr__(self) -> str:
        out = "allocated by the first call" if self.out is None else _describe(self.out)
        return f"<pyfront.BoundCall {self.method}({_describe(self.input)}) -> {out}>"


def _lendable_code(array: Any, role: str) -> int:
    """The dtype code of an array the library can read and write in place, else a clear
    error that says how to get one."""
    code = lendable_dtype_code(array) if isinstance(array, np.ndarray) else None
    if code is None:
        raise InvalidArgumentError(
            f"bind lends its arrays to the model, so {role} must be a C-contiguous, writable "
            f"numpy array of a dtype the library knows; got {_describe(array)} "
            f"(np.array({role}, order='C') makes such a copy)"
        )
    return code


def _describe(array: Any) -> str:
    if not isinstance(array, np.ndarray):
        return f"a {type(array).__name__}"
    traits = [] if array.flags.c_contiguous else ["not C-contiguous"]
    traits += [] if array.flags.writeable else ["read-only"]
    return f"{array.dtype}{list(array.shape)}" + (f" ({', '.join(traits)})" if traits else "")

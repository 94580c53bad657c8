"""`BoundCall`: a model's method bound to an input array and an output array, for the
cheapest repeated call (what ONNX Runtime calls IO binding)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._bindings import model as _native
from ._bindings.tensors import CODE_OF_DTYPE, native_dtype_code
from ._bindings.values import lendable_dtype_code
from .errors import InvalidArgumentError, UnsupportedOutputError

__all__ = ["BoundCall"]


class BoundCall:
    """Made by `Model.bind(array)`. Each call runs the method on what `input` (the array given
    to bind) holds at that moment and returns `out`: the same numpy array every time,
    overwritten by each call.

    Both arrays are lent to the call for its whole life, and the call takes their pointers,
    shapes and dtypes once. That is what saves the per-call work of a plain `forward`
    (looking at the arrays, and allocating and copying a result): write the next input into
    the same array (`input[...] = x`) and call again. The BoundCall holds both arrays, so
    numpy refuses to resize them in place (unless told not to check, with `refcheck=False`,
    which is unsafe for any view of an array); let go of it to end that. A shape or dtype
    given to an array in place later (`a.shape = ...`) is not seen: the call keeps reading
    and writing the same bytes as before.

    `out` is allocated by the first call, from its result, unless given to `bind`. Every
    result must have `out`'s shape and dtype (a bfloat16 result fills a float32 `out`); one
    that does not raises InvalidArgumentError and leaves `out` as it was, as does any failed
    call. Call it from one thread at a time, as one would write into its arrays.
    """

    __slots__ = ("_input", "_out", "_method", "_handle", "_run", "_first", "_signature")

    def __init__(
        self,
        handle: Any,
        run_one_array: Callable[[bytes, np.ndarray, int], Any],
        array: np.ndarray,
        out: np.ndarray | None,
        method: str,
    ) -> None:
        code = _lendable_code(array, "the input array")
        self._input = array
        self._out = out
        self._method = method
        self._handle = handle
        self._run: Callable[[], None] | None = None
        self._first = run_one_array  # the model's plain path, for a first call that allocates
        self._signature = f"{method}({_describe(array)}) -> allocated by the first call"
        if out is not None:
            self._bind(out, code)

    @property
    def input(self) -> np.ndarray:
        """The array each call reads."""
        return self._input

    @property
    def out(self) -> np.ndarray | None:
        """The array each call writes into and returns (None before a first call that
        allocates it)."""
        return self._out

    @property
    def method(self) -> str:
        return self._method

    def __call__(self) -> np.ndarray:
        run = self._run
        if run is None:
            return self._first_call()
        run()
        return self._out  # type: ignore[return-value]  # (set whenever _run is)

    def _first_call(self) -> np.ndarray:
        code = _lendable_code(self._input, "the input array")  # as it is now: bound from here
        result = self._first(self._method.encode(), self._input, code)
        if type(result) is not np.ndarray:
            raise UnsupportedOutputError(
                f"{self._method} returned a {type(result).__name__}, but a BoundCall needs a "
                f"method that returns one tensor; call it with Model.run_method instead"
            )
        self._bind(result, code)
        return result

    def _bind(self, out: np.ndarray, code: int) -> None:
        out_code = _lendable_code(out, "out")
        self._run = _native.bind_into(
            self._handle, self._method.encode(), self._input, code, out, out_code
        )
        self._out = out
        self._signature = f"{self._method}({_describe(self._input)}) -> {_describe(out)}"

    def __repr__(self) -> str:
        return f"<pyfront.BoundCall {self._signature}>"


def _lendable_code(array: Any, role: str) -> int:
    """The dtype code of an array the library can read and write in place, else a clear
    error that says what is wrong and how to get one."""
    if not isinstance(array, np.ndarray):
        raise InvalidArgumentError(f"{role} is {_describe(array)}, but bind takes numpy arrays")
    code = lendable_dtype_code(array)
    if code is not None:
        return code
    if native_dtype_code(array.dtype) is None:
        known = ", ".join(sorted(dtype.name for dtype in CODE_OF_DTYPE))
        raise InvalidArgumentError(
            f"{role} is {_describe(array)}, a dtype the library does not take; bind takes "
            f"{known} and ml_dtypes' bfloat16, in the machine's byte order (convert with "
            f".astype)"
        )
    raise InvalidArgumentError(
        f"bind lends its arrays to the model, so {role} must be C-contiguous and writable; "
        f"it is {_describe(array)} (np.array(a, order='C') makes such a copy)"
    )


def _describe(array: Any) -> str:
    if not isinstance(array, np.ndarray):
        return f"a {type(array).__name__}"
    traits = [] if array.flags.c_contiguous else ["not C-contiguous"]
    traits += [] if array.flags.writeable else ["read-only"]
    return f"{array.dtype.str if array.dtype.byteorder == '>' else array.dtype}" + (
        f"{list(array.shape)}" + (f" ({', '.join(traits)})" if traits else "")
    )

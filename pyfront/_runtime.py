"""pyfront's process-wide functions: versions, threads, fusion."""
from __future__ import annotations

from ._bindings import runtime as _native
from ._ffi import VERSION
from .errors import InvalidArgumentError

# The package's release is the library's, as tsrt.h states it (TSRT_VERSION).
__version__ = VERSION


def abi_version() -> int:
    """The ABI version of the loaded libtsrt."""
    return _native.abi_version()


def libtorch_version() -> str:
    """The libtorch version libtsrt was built against."""
    return _native.libtorch_version()


def get_num_threads() -> int:
    """libtorch's intra-op thread count (process-wide). Calls running at the same time share
    them, so concurrent callers never oversubscribe the cores."""
    return _native.get_num_threads()


def set_num_threads(n: int) -> None:
    """Sets libtorch's intra-op thread count for the whole process."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidArgumentError(f"the number of threads must be an int, got {n!r}")
    _native.set_num_threads(n)


def set_fusion(enable: bool) -> None:
    """Turns oneDNN Graph fusion on or off for the whole process (on by default; see tsrt.h).
    It applies to models loaded afterwards."""
    _native.set_fusion(enable)


def get_fusion() -> bool:
    """Whether oneDNN Graph fusion is on."""
    return _native.get_fusion()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16): where
    `Model(..., precision="auto")` runs bf16."""
    return _native.cpu_has_native_bf16()

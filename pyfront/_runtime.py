"""pyfront's process-wide functions: versions, threads, fusion, operator libraries."""

from __future__ import annotations

import os

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


def load_library(path: str | os.PathLike) -> None:
    """Loads a shared library that registers TorchScript operators (a model's own
    TORCH_LIBRARY operators), for the whole process and for good, before loading the models
    that call them. Loading the same file again does nothing.

    torchvision's operators need no call: when a model needs them and the torchvision package
    is installed, pyfront registers the package's own. Never load a second build of operators
    already registered (such as scripts/build_torchvision_ops.sh's library after a model used
    torchvision's): registering an operator twice ends the process (see tsrt.h).

    Raises LibraryNotFoundError (no such file) or LibraryLoadError (not a shared library,
    built for another machine, unresolved symbols...; the message says which)."""
    try:
        text = os.fspath(path)
    except TypeError:
        raise InvalidArgumentError(
            f"a library path must be a str or os.PathLike, not {type(path).__name__}"
        ) from None
    text = os.fsdecode(text)
    if "\0" in text:
        raise InvalidArgumentError(f"the path {text!r} contains a NUL character")
    _native.load_library(text)

"""cffi's view of libtsrt: the declarations, read from the shipped tsrt.h, and the library,
opened on first use.

Reading the declarations takes a few milliseconds and maps nothing. Opening the library maps
libtorch (hundreds of megabytes, most of a second), so it waits until something runs: code
that only handles pyfront's errors, or ships model recipes to other processes, never pays for
it. PYFRONT_LIBRARY may name another build of libtsrt (a sanitizer build, say).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

from cffi import FFI

from . import _header
from ._paths import header_path, library_path


def _read_declarations() -> _header.Declarations:
    path = header_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ImportError(
            f"pyfront: {path} is missing: the package was not built; run "
            f"'bash scripts/setup.sh' in a checkout, or 'pip install --no-build-isolation .'"
        ) from None
    return _header.parse(text)


_declarations = _read_declarations()
ffi = FFI()
ffi.cdef(_declarations.cdef)


def _constants() -> SimpleNamespace:
    values = dict(_declarations.integers)
    values.update(_declarations.decimals)
    for name in ffi.list_types()[0]:
        ctype = ffi.typeof(name)
        if ctype.kind == "enum":
            values.update(ctype.relements)
    return SimpleNamespace(**values)


# Every enum value and numeric #define of tsrt.h, by name: C.TSRT_OK, C.TSRT_DTYPE_FLOAT32,
# C.TSRT_BF16_TOLERANCE...
C = _constants()
VERSION: str = _declarations.strings["TSRT_VERSION"]

_library = None
_opening = threading.Lock()


def lib():
    """The loaded libtsrt, opened on the first call (which maps libtorch)."""
    if _library is None:
        _open()
    return _library


def is_loaded() -> bool:
    """Whether libtsrt (and with it libtorch) is mapped into this process."""
    return _library is not None


def _open() -> None:
    global _library
    with _opening:
        if _library is not None:
            return
        path = library_path(C.TSRT_SOVERSION)
        if not path.exists():
            raise ImportError(
                f"pyfront: the shim library {path} is missing; build it with "
                f"'bash scripts/setup.sh' or 'pip install --no-build-isolation .'"
            )
        library = ffi.dlopen(str(path))
        found = library.tsrt_abi_version()
        if found < C.TSRT_ABI_VERSION:
            raise ImportError(
                f"pyfront: {path} implements ABI version {found}, but its header says "
                f"{C.TSRT_ABI_VERSION}; rebuild the shim"
            )
        _library = library

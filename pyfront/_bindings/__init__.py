"""The bindings layer: thin Python functions over libtsrt's C calls, and the only code in
pyfront that calls the library.

Each function makes one C call (or a few that belong together), checks its status and hands
back Python values or owned handles; the public classes above (pyfront.Model, ...) speak
only Python and numpy. Failures become exceptions in one place, `check`.
"""

from __future__ import annotations

from .._ffi import ffi, lib
from ..errors import error_for_status


def check(status: int, filename: str | None = None, for_library: bool = False) -> None:
    """Raises the exception for a libtsrt status, with the library's message for this thread
    (`for_library`: the status of tsrt_load_library)."""
    if status == 0:
        return
    library = lib()
    message = ffi.string(library.tsrt_last_error()).decode("utf-8", "replace")
    name = ffi.string(library.tsrt_status_name(status)).decode()
    raise error_for_status(name, message, filename, for_library)

"""Compiler and linker flags for C programs that use libtsrt from this package."""
from __future__ import annotations

from ._paths import INCLUDE_DIR, LIBRARY_DIR


def includedir() -> str:
    return str(INCLUDE_DIR)


def libdir() -> str:
    return str(LIBRARY_DIR)


def cflags() -> str:
    return f"-I{INCLUDE_DIR}"


def libs() -> str:
    # The rpath lets the program find libtsrt where it is; libtsrt finds libtorch itself.
    return f"-L{LIBRARY_DIR} -Wl,-rpath,{LIBRARY_DIR} -ltsrt"

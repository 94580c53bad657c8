"""Compiler and linker flags for C programs that use libtsrt from this package."""
from __future__ import annotations

from ._paths import include_dir, library_dir


def includedir() -> str:
    return str(include_dir())


def libdir() -> str:
    return str(library_dir())


def cflags() -> str:
    return f"-I{include_dir()}"


def libs() -> str:
    # The rpath lets the program find libtsrt where it is; libtsrt finds libtorch itself.
    return f"-L{library_dir()} -Wl,-rpath,{library_dir()} -ltsrt"

"""Compiler and linker flags for C programs that use libtsrt from this package, and where
the operator library for C programs lies."""

from __future__ import annotations

from ._paths import include_dir, library_dir

TORCHVISION_OPS = "libtorchvision_ops.so"


def includedir() -> str:
    return str(include_dir())


def libdir() -> str:
    return str(library_dir())


def cflags() -> str:
    return f"-I{include_dir()}"


def libs() -> str:
    # The rpath lets the program find libtsrt where it is; libtsrt finds libtorch itself.
    return f"-L{library_dir()} -Wl,-rpath,{library_dir()} -ltsrt"


def torchvision_ops() -> str:
    """The library of torchvision's operators for programs without Python, as
    scripts/build_torchvision_ops.sh left it next to libtsrt; LookupError when not built."""
    path = library_dir() / TORCHVISION_OPS
    if not path.exists():
        raise LookupError(
            f"{path} is not built: run 'bash scripts/build_torchvision_ops.sh' in a checkout "
            f"(it needs torchvision installed); Python programs need no such library"
        )
    return str(path)

"""Where the built files live inside this package: libtsrt in lib/, tsrt.h in include/.

In a normal install they sit next to the Python files. In an editable install the package
spans the source folder and the folder the build installed into, so every folder of the
package's search path is tried.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _package_dirs() -> list[Path]:
    import pyfront

    dirs = [Path(entry).resolve() for entry in getattr(pyfront, "__path__", [])]
    return dirs if PACKAGE_DIR in dirs else [PACKAGE_DIR, *dirs]


def _find(relative: str) -> Path:
    for folder in _package_dirs():
        if (folder / relative).exists():
            return folder / relative
    return PACKAGE_DIR / relative  # missing: the error names the usual place


def header_path() -> Path:
    return _find("include/tsrt.h")


def include_dir() -> Path:
    return header_path().parent


def library_dir() -> Path:
    return _find("lib/libtsrt.so").parent


def library_path(soversion: int) -> Path:
    """The libtsrt to load: this package's (named by its SONAME, libtsrt.so.N), or another
    build named by PYFRONT_LIBRARY."""
    override = os.environ.get("PYFRONT_LIBRARY")
    return Path(override) if override else _find(f"lib/libtsrt.so.{soversion}")

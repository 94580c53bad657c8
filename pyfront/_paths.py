"""Where the shim's files live inside this package."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARY_DIR = PACKAGE_DIR / "lib"
INCLUDE_DIR = PACKAGE_DIR / "include"
HEADER_PATH = INCLUDE_DIR / "tsrt.h"


def library_path(soversion: int) -> Path:
    """The libtsrt to load: this package's (named by its SONAME, libtsrt.so.N), or another
    build named by PYFRONT_LIBRARY."""
    override = os.environ.get("PYFRONT_LIBRARY")
    return Path(override) if override else LIBRARY_DIR / f"libtsrt.so.{soversion}"

"""Where the shim's files live inside this package."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARY_DIR = PACKAGE_DIR / "lib"
INCLUDE_DIR = PACKAGE_DIR / "include"
LIBRARY_NAME = "libtsrt.so.1"  # the SONAME, what programs load; libtsrt.so is for linkers


def library_path() -> Path:
    """The libtsrt to load: this package's, or another build named by PYFRONT_LIBRARY."""
    override = os.environ.get("PYFRONT_LIBRARY")
    return Path(override) if override else LIBRARY_DIR / LIBRARY_NAME

"""torchvision's operators for the models that call them (detection models, torchvision.ops),
registered without importing torch or torchvision.

torchvision's wheel registers its operators (torchvision::nms, roi_align...) when its compiled
extension is loaded. That file names torch's libtorch_python.so as a dependency, though it uses
none of its symbols, so libtorch_python.so is loaded first, from the torch package next to it;
both load in about 20 ms and add a few megabytes, and nothing runs Python code.

This happens only when a model fails to load because it calls a torchvision operator nobody
registered, and then the load is tried once more: a process whose models need no torchvision
operator never maps them, and one that registered them itself (pyfront.load_library) never
loads a second copy, which would register every operator twice and end the process.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from pathlib import Path
from typing import Callable, TypeVar

from ._bindings import runtime as _native
from .errors import ModelLoadError, PyfrontError

T = TypeVar("T")

# libtsrt's message for an operator nobody registered, or libtorch's own (an older libtsrt).
_MISSING = re.compile(r"(?:calls the operator |Unknown builtin op: )(torchvision::\w+)")
# The compiled extension registering the operators: torchvision >= 0.24 builds it against
# torch's stable ABI as _C_stable.so; earlier releases ship _C.so.
_EXTENSIONS = ("_C_stable.so", "_C.so")

_lock = threading.Lock()
_attempted = False
_outcome = ""  # why registration did not happen, or "" once it did


def load_with_operators(load: Callable[[], T]) -> T:
    """`load()`, tried once more after registering torchvision's operators when it failed for
    want of one; when they cannot be registered, the error says why."""
    try:
        return load()
    except ModelLoadError as error:
        match = _MISSING.search(str(error))
        if match is None:
            raise
        newly = _register_once()
        if newly:
            return load()
        if _outcome:
            error.args = (
                f"{error.args[0]}\n\n(pyfront could not register torchvision's "
                f"operators: {_outcome})",
            ) + error.args[1:]
        raise


def _register_once() -> bool:
    """Registers the wheel's operators unless tried before; True when this call did it."""
    global _attempted, _outcome
    with _lock:
        if _attempted:
            return False
        _attempted = True
        try:
            library, extension = _wheel_files()
            _native.load_library(str(library))
            _native.load_library(str(extension))
        except (LookupError, PyfrontError) as reason:
            _outcome = str(reason)
            return False
        _outcome = ""
        return True


def _package_dir(name: str) -> Path:
    # find_spec locates a top-level package without importing it.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"the {name} package is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _wheel_files() -> tuple[Path, Path]:
    """torch's libtorch_python.so and torchvision's extension, checked to belong to the
    libtorch this process runs."""
    vision = _package_dir("torchvision")
    torch_lib = _package_dir("torch") / "lib"
    extension = next((vision / name for name in _EXTENSIONS if (vision / name).exists()), None)
    if extension is None:
        raise LookupError(
            f"torchvision at {vision} has no compiled operators ({' or '.join(_EXTENSIONS)})"
        )
    running = _running_libtorch_dir()
    if running is not None and running != torch_lib.resolve():
        raise LookupError(
            f"the installed torchvision belongs to the torch at {torch_lib.parent}, but libtsrt "
            f"runs on the libtorch in {running}; load operators built for that libtorch with "
            f"pyfront.load_library"
        )
    return torch_lib / "libtorch_python.so", extension


def _running_libtorch_dir() -> Path | None:
    """The folder of the libtorch_cpu.so mapped into this process (Linux), or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(" ", 5)[-1].strip()
                if os.path.basename(path) == "libtorch_cpu.so":
                    return Path(path).resolve().parent
    except OSError:
        pass
    return None

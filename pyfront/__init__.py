"""pyfront: run TorchScript models from Python through libtsrt, without importing torch.

    import pyfront
    top = pyfront.infer("resnet18.pt", images)      # images: (N, 3, 224, 224) or (3, 224, 224)
    top.indices, top.probs                           # both (N, 5)

    with pyfront.Model("resnet18.pt") as model:
        logits = model.forward(images)               # any arguments, any result types
        call = model.bind(images); call()            # the cheapest repeated call
        model.method_names(), model.schema("forward"), model.extra_files

Importing pyfront is cheap: numpy, cffi and the native library (which maps libtorch) are
loaded when first needed, so a process that only handles pyfront's errors, or hands work to
an IsolatedModel, never maps libtorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BufferTooSmallError,
    DeviceError,
    InferenceError,
    InternalError,
    InvalidArgumentError,
    LibraryLoadError,
    LibraryNotFoundError,
    ModelChangedError,
    ModelClosedError,
    ModelLoadError,
    ModelNotFoundError,
    NoSuchNameError,
    OutOfMemoryError,
    PyfrontError,
    UnsupportedOutputError,
)

if TYPE_CHECKING:
    from ._runtime import (
        abi_version,
        cpu_has_native_bf16,
        get_fusion,
        get_num_threads,
        libtorch_version,
        load_library,
        set_fusion,
        set_num_threads,
    )
    from .bound_call import BoundCall
    from .infer import clear_cache, infer
    from .isolated import IsolatedModel, ModelCrashedError
    from .model import Model, TopK

# Public names defined in submodules, imported on first use (PEP 562).
_LAZY = {
    "Model": "model",
    "TopK": "_shared",
    "BoundCall": "bound_call",
    "infer": "infer",
    "clear_cache": "infer",
    "IsolatedModel": "isolated",
    "ModelCrashedError": "isolated",
    "abi_version": "_runtime",
    "libtorch_version": "_runtime",
    "get_num_threads": "_runtime",
    "set_num_threads": "_runtime",
    "set_fusion": "_runtime",
    "get_fusion": "_runtime",
    "cpu_has_native_bf16": "_runtime",
    "load_library": "_runtime",
    "__version__": "_runtime",
}

__all__ = [
    "Model",
    "IsolatedModel",
    "TopK",
    "BoundCall",
    "infer",
    "clear_cache",
    "abi_version",
    "libtorch_version",
    "get_num_threads",
    "set_num_threads",
    "set_fusion",
    "get_fusion",
    "cpu_has_native_bf16",
    "load_library",
    "PyfrontError",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelChangedError",
    "InvalidArgumentError",
    "InferenceError",
    "UnsupportedOutputError",
    "DeviceError",
    "ModelClosedError",
    "OutOfMemoryError",
    "NoSuchNameError",
    "BufferTooSmallError",
    "InternalError",
    "ModelCrashedError",
    "LibraryLoadError",
    "LibraryNotFoundError",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyfront' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

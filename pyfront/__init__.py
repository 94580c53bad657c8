"""pyfront: run TorchScript models from Python through libtsrt, without importing torch.

    import pyfront
    top = pyfront.infer("resnet18.pt", images)      # images: (N, 3, 224, 224) or (3, 224, 224)
    top.indices, top.probs                           # both (N, 5)

    with pyfront.Model("resnet18.pt") as model:
        logits = model.forward(images)               # any arguments, any result types
        model.method_names(), model.schema("forward"), model.extra_files
"""
from ._ffi import ffi as _cffi, lib as _lib
from .errors import (DeviceError, InferenceError, InvalidArgumentError, ModelClosedError,
                     ModelLoadError, ModelNotFoundError, NoSuchNameError, OutOfMemoryError, PyfrontError,
                     UnsupportedOutputError, check as _check)
from .infer import clear_cache, infer
from .isolated import IsolatedModel, ModelCrashedError
from .model import Model, TopK

__version__ = "0.1.0"

__all__ = [
    "Model", "IsolatedModel", "TopK", "infer", "clear_cache", "abi_version", "libtorch_version",
    "get_num_threads", "set_num_threads", "set_fusion", "get_fusion", "cpu_has_native_bf16",
    "PyfrontError", "ModelLoadError", "ModelNotFoundError", "InvalidArgumentError",
    "InferenceError", "UnsupportedOutputError", "DeviceError", "ModelClosedError",
    "OutOfMemoryError", "NoSuchNameError", "ModelCrashedError",
]


def abi_version() -> int:
    """The ABI version of the loaded libtsrt."""
    return _lib.tsrt_abi_version()


def libtorch_version() -> str:
    """The libtorch version libtsrt was built against."""
    return _cffi.string(_lib.tsrt_libtorch_version()).decode()


def get_num_threads() -> int:
    """libtorch's intra-op thread count (process-wide). Calls running at the same time share
    them, so concurrent callers never oversubscribe the cores."""
    return _lib.tsrt_get_num_threads()


def set_fusion(enable: bool) -> None:
    """Turns oneDNN Graph fusion on or off for the whole process (on by default; see tsrt.h).
    It applies to models loaded afterwards."""
    _check(_lib.tsrt_set_fusion(bool(enable)))


def get_fusion() -> bool:
    """Whether oneDNN Graph fusion is on."""
    return bool(_lib.tsrt_get_fusion())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16): where
    `Model(..., precision="auto")` runs bf16."""
    return bool(_lib.tsrt_cpu_has_native_bf16())


def set_num_threads(n: int) -> None:
    """Sets libtorch's intra-op thread count for the whole process."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidArgumentError(f"the number of threads must be an int, got {n!r}")
    _check(_lib.tsrt_set_num_threads(n))

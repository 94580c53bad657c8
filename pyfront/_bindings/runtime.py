"""Process-wide calls: versions, intra-op threads, oneDNN Graph fusion."""

from __future__ import annotations

import os

from .._ffi import ffi, lib
from . import check


def abi_version() -> int:
    return lib().tsrt_abi_version()


def version() -> str:
    return ffi.string(lib().tsrt_version()).decode()


def libtorch_version() -> str:
    return ffi.string(lib().tsrt_libtorch_version()).decode()


def get_num_threads() -> int:
    return lib().tsrt_get_num_threads()


def set_num_threads(n: int) -> None:
    check(lib().tsrt_set_num_threads(n))


def set_fusion(enable: bool) -> None:
    check(lib().tsrt_set_fusion(bool(enable)))


def get_fusion() -> bool:
    return bool(lib().tsrt_get_fusion())


def cpu_has_native_bf16() -> bool:
    return bool(lib().tsrt_cpu_has_native_bf16())


def load_library(path: str) -> None:
    check(lib().tsrt_load_library(os.fsencode(path)), filename=path, for_library=True)

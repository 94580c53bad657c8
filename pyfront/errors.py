"""pyfront's exceptions, and the one place where shim status codes become them."""
from __future__ import annotations

import errno

from ._ffi import ffi, lib


class PyfrontError(Exception):
    """Base class of every error pyfront raises. `status` is the shim's status name."""

    def __init__(self, message: str, status: str = ""):
        super().__init__(message)
        self.status = status


class ModelLoadError(PyfrontError):
    """The model could not be loaded: unreadable path, or not a TorchScript module."""


class ModelNotFoundError(ModelLoadError, FileNotFoundError):
    """The model file does not exist."""

    def __init__(self, message: str, status: str = ""):
        PyfrontError.__init__(self, message, status)
        self.errno = errno.ENOENT
        self.strerror = message

    def __str__(self) -> str:  # OSError's "[Errno 2] ..." format would hide the message
        return self.strerror


class InvalidArgumentError(PyfrontError, ValueError):
    """An argument is malformed or does not fit the method's schema: a bad shape, k out of
    range, an unknown device name, the wrong number or types of arguments."""


class BufferTooSmallError(InvalidArgumentError):
    """A buffer the caller sized is smaller than the result (TSRT_ERR_BUFFER_TOO_SMALL). pyfront
    sizes its own buffers, so from Python this means a bug in pyfront; it is an
    InvalidArgumentError because in C it is a bad argument, and a class of its own so that it
    is never mistaken for one of the caller's."""


class InferenceError(PyfrontError, ValueError):
    """The model rejected its input (wrong rank, channel count...) or failed while running."""


class UnsupportedOutputError(PyfrontError, TypeError):
    """The model returned something the call cannot hand back (e.g. a tuple to `forward`)."""


class NoSuchNameError(PyfrontError, LookupError):
    """The model has no method, or no extra file, of that name."""


class DeviceError(PyfrontError):
    """The requested device is not available."""


class ModelClosedError(PyfrontError, ValueError):
    """The Model was closed; it cannot run any more."""


class OutOfMemoryError(PyfrontError, MemoryError):
    """libtorch could not allocate memory."""


class InternalError(PyfrontError):
    """A bug in libtsrt or libtorch (TSRT_ERR_INTERNAL); the message says where."""


_BY_STATUS = {
    lib.TSRT_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    lib.TSRT_ERR_NOT_FOUND: ModelNotFoundError,
    lib.TSRT_ERR_IO: ModelLoadError,
    lib.TSRT_ERR_BAD_MODEL: ModelLoadError,
    lib.TSRT_ERR_DEVICE: DeviceError,
    lib.TSRT_ERR_FORWARD: InferenceError,
    lib.TSRT_ERR_UNSUPPORTED: UnsupportedOutputError,
    lib.TSRT_ERR_BUFFER_TOO_SMALL: BufferTooSmallError,
    lib.TSRT_ERR_OUT_OF_MEMORY: OutOfMemoryError,
    lib.TSRT_ERR_INTERNAL: InternalError,
    lib.TSRT_ERR_NO_SUCH_NAME: NoSuchNameError,
    lib.TSRT_ERR_TOO_LARGE: ModelLoadError,
    lib.TSRT_ERR_CLOSED: ModelClosedError,
}


def check(status: int, filename: str | None = None) -> None:
    """Raises the exception for a shim status code, with the shim's message for this thread."""
    if status == lib.TSRT_OK:
        return
    message = ffi.string(lib.tsrt_last_error()).decode("utf-8", "replace")
    name = ffi.string(lib.tsrt_status_name(status)).decode()
    error = _BY_STATUS.get(status, PyfrontError)(message or name, name)
    if filename is not None and isinstance(error, OSError):
        error.filename = filename
    raise error

"""pyfront's exceptions, and the one table that turns libtsrt's status codes into them.

Pure Python: importing it maps no native library, so code that only handles these errors
(or the parent side of an IsolatedModel) stays light.
"""

from __future__ import annotations

import errno


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
        return str(self.strerror)


class ModelChangedError(ModelLoadError):
    """The model file differs from the one a pickled model was made from: a pickle holds how to
    load a model (its path and a fingerprint of the file), not its weights, and refuses to load
    a different file under the same name."""


class InvalidArgumentError(PyfrontError, ValueError):
    """An argument is malformed or does not fit the method's schema: a bad shape, k out of
    range, an unknown device name, the wrong number or types of arguments."""


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


class BufferTooSmallError(InvalidArgumentError):
    """A caller-provided buffer is smaller than the result needs."""


class InternalError(PyfrontError):
    """A bug in libtsrt or libtorch; the message says what failed."""


class LibraryLoadError(PyfrontError):
    """An operator library could not be loaded: not a shared library, built for another
    machine, unresolved symbols, a dependency not found (the message says which)."""


class LibraryNotFoundError(LibraryLoadError, FileNotFoundError):
    """The operator library file does not exist."""

    def __init__(self, message: str, status: str = ""):
        PyfrontError.__init__(self, message, status)
        self.errno = errno.ENOENT
        self.strerror = message

    def __str__(self) -> str:
        return str(self.strerror)


# libtsrt's status names (tsrt.h's `tsrt_status`) to exceptions. A status not listed here
# (one a newer library added) becomes a PyfrontError with the library's message.
BY_STATUS_NAME = {
    "TSRT_ERR_INVALID_ARGUMENT": InvalidArgumentError,
    "TSRT_ERR_NOT_FOUND": ModelNotFoundError,
    "TSRT_ERR_IO": ModelLoadError,
    "TSRT_ERR_BAD_MODEL": ModelLoadError,
    "TSRT_ERR_DEVICE": DeviceError,
    "TSRT_ERR_FORWARD": InferenceError,
    "TSRT_ERR_UNSUPPORTED": UnsupportedOutputError,
    "TSRT_ERR_BUFFER_TOO_SMALL": BufferTooSmallError,
    "TSRT_ERR_OUT_OF_MEMORY": OutOfMemoryError,
    "TSRT_ERR_INTERNAL": InternalError,
    "TSRT_ERR_NO_SUCH_NAME": NoSuchNameError,
    "TSRT_ERR_TOO_LARGE": ModelLoadError,
    "TSRT_ERR_CLOSED": ModelClosedError,
    "TSRT_ERR_BAD_LIBRARY": LibraryLoadError,
}

# The same statuses from tsrt_load_library, which loads a library rather than a model.
LIBRARY_BY_STATUS_NAME = {
    "TSRT_ERR_NOT_FOUND": LibraryNotFoundError,
    "TSRT_ERR_IO": LibraryLoadError,
    "TSRT_ERR_BAD_LIBRARY": LibraryLoadError,
}


def error_for_status(
    status_name: str, message: str, filename: str | None = None, for_library: bool = False
) -> PyfrontError:
    """The exception for a failed libtsrt call: its status name and the library's message.
    `for_library` for tsrt_load_library, whose missing file is a library, not a model."""
    table = {**BY_STATUS_NAME, **LIBRARY_BY_STATUS_NAME} if for_library else BY_STATUS_NAME
    error = table.get(status_name, PyfrontError)(message or status_name, status_name)
    if filename is not None and isinstance(error, OSError):
        error.filename = filename
    return error

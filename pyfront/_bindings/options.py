"""Load options: Python arguments to a tsrt_options handle."""

from __future__ import annotations

from .._ffi import C, ffi, lib
from ..errors import InvalidArgumentError
from . import check

_PRECISIONS = {
    "fp32": "TSRT_PRECISION_FP32",
    "bf16": "TSRT_PRECISION_BF16",
    "auto": "TSRT_PRECISION_AUTO",
}


def new_options(
    device: str,
    max_file_size,
    debug_info: bool,
    freeze: bool,
    warmup,
    warmup_runs: int,
    precision: str = "fp32",
):
    """A tsrt_options handle holding these settings, freed when it is garbage collected
    (the load copies what it needs)."""
    if not isinstance(device, str):
        raise InvalidArgumentError(f"device must be a str such as 'cpu', got {device!r}")
    library = lib()
    pointer = ffi.new("tsrt_options **")
    check(library.tsrt_options_new(pointer))
    options = ffi.gc(pointer[0], library.tsrt_options_free)
    check(library.tsrt_options_set_device(options, device.encode()))
    if max_file_size is not None:
        if (
            isinstance(max_file_size, bool)
            or not isinstance(max_file_size, int)
            or max_file_size < 1
        ):
            raise InvalidArgumentError(
                f"max_file_size must be a positive number of bytes, got {max_file_size!r}"
            )
        check(library.tsrt_options_set_max_file_size(options, max_file_size))
    check(library.tsrt_options_set_debug_info(options, bool(debug_info)))
    check(library.tsrt_options_set_freeze(options, bool(freeze)))
    if isinstance(warmup_runs, bool) or not isinstance(warmup_runs, int):
        raise InvalidArgumentError(f"warmup_runs must be an int, got {warmup_runs!r}")
    check(library.tsrt_options_set_warmup_runs(options, warmup_runs))
    if not isinstance(precision, str) or precision not in _PRECISIONS:
        raise InvalidArgumentError(f"precision must be 'fp32', 'bf16' or 'auto', got {precision!r}")
    check(library.tsrt_options_set_precision(options, getattr(C, _PRECISIONS[precision])))
    if warmup is not None:
        check(library.tsrt_options_clear_warmup_shapes(options))
        for shape in warmup:
            try:
                dims = [int(d) for d in shape]
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"warmup takes a list of shapes such as [(1, 3, 224, 224)], got {warmup!r}"
                ) from None
            check(library.tsrt_options_add_warmup_shape(options, dims, len(dims)))
    return options

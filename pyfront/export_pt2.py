"""Export a model as an AOTInductor package (`.pt2`): TorchScript's successor for running a
PyTorch model from C++.

`torch.export` traces the model with a dynamic batch dimension and AOTInductor compiles the
traced program into native code for this machine's CPU, packed with its weights into one zip
archive. The package carries the same metadata as pyfront's TorchScript files: AOTInductor
stores string entries of its `aot_inductor.metadata` setting inside the package, and libtsrt
hands them out as the model's extra files.

A package holds compiled native code that runs inside the process loading it, built for the
instruction set of the CPU it was compiled on (the package records which).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from ._ffi import C

# The batch sizes the package accepts; the example input used for tracing has batch 2, so
# that torch.export does not specialise the batch dimension to 1.
MAX_BATCH = 1024
TRACE_BATCH = 2
# A package holds two compiled models of the same program: "model", for any batch size, and
# BATCH1_MODEL, compiled for batch 1 alone, which libtsrt runs for an input of exactly that
# shape. Code compiled for no particular batch size is slower on one image (ResNet-18 on a
# 2-core AMD EPYC, with its convolution weights packed: 1.02x the time of batch 1 alone in
# float32, 1.04x in bfloat16); the cost is a second copy of the weights in the package.
BATCH1_MODEL = "model_batch1"
BATCH1_SHAPES_FILE = "tsrt/batch1_shapes"  # its input shapes, which libtsrt dispatches on
# freezing: weights become constants folded into the compiled code (batch norms into
# convolutions), as with TorchScript files exported frozen. libtsrt has the compiled code check
# its inputs (AOTI_RUNTIME_CHECK_INPUTS); without check_lowerbound off, that check would refuse
# batch 1, which torch.export's dynamic dimensions assume never happens (sizes 0 and 1 are
# specialised), though the code handles it.
# cpp.march "": no -march=native, so the code uses only the instruction sets Inductor picks
# for this CPU and names in its compiler flags, which libtsrt checks the running CPU for.
INDUCTOR_CONFIGS = {"freezing": True, "aot_inductor.check_lowerbound": False, "cpp.march": ""}


# What pyfront records in a package compiled in bfloat16 (tsrt.h, tsrt_model_load): libtsrt
# runs it on check_input(shape) when loading it and compares the first result with the float32
# results recorded here, within BF16_TOLERANCE of the largest |value| of each sample.
PRECISION_FILE = "tsrt/precision"
PRECISION_CHECK_FILE = "tsrt/precision_check"
PRECISIONS = ("fp32", "bf16")
BF16_TOLERANCE = C.TSRT_BF16_TOLERANCE


def check_input(shape):
    """The check's input as libtsrt makes it: element i of the flattened tensor is the top 24
    bits of i * 2654435761 mod 2**32, over 2**24 (values in [0, 1) that float32 holds exactly,
    the same in Python and C++ without a shared random generator)."""
    import numpy as np
    import torch

    count = int(np.prod(shape))
    index = np.arange(count, dtype=np.uint64)
    values = ((index * np.uint64(2654435761)) % np.uint64(2**32)) >> np.uint64(8)
    return torch.from_numpy((values.astype(np.float32) / np.float32(2**24)).reshape(shape))


def _bf16_wrapper(eager):
    """`eager` in bfloat16 behind float32 inputs and results, so callers change nothing."""
    import copy

    import torch

    class Bfloat16(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.to(torch.bfloat16)).to(torch.float32)

    return Bfloat16(copy.deepcopy(eager).to(torch.bfloat16)).eval()


def compare_per_sample(ours, reference, tolerance: float) -> str:
    """ "" when `ours` is within `tolerance` times the largest finite |value| of each sample of
    `reference` (its slices along the first dimension), NaN and infinities in the same places;
    else what differs."""
    import torch

    if ours.shape != reference.shape:
        return f"shape {tuple(ours.shape)} instead of {tuple(reference.shape)}"
    for index, (a, b) in enumerate(zip(ours.float(), reference.float())):
        if not torch.equal(a.isnan(), b.isnan()) or not torch.equal(a.isinf(), b.isinf()):
            return f"sample {index}: NaN or infinities in other places"
        finite = b.isfinite()
        if finite.any():
            scale = b[finite].abs().max()
            error = (a[finite] - b[finite]).abs().max()
            if error > tolerance * scale:
                return f"sample {index}: off by {float(error):.4g} of {float(scale):.4g}"
    return ""


def compile_package(
    eager,
    input_shape,
    metadata: dict[str, str],
    output: Path,
    precision: str = "fp32",
    batch1: bool = True,
) -> Path:
    """Traces `eager` with a dynamic batch dimension, compiles it and writes the package to
    `output` with `metadata` (string entries) inside. `precision` "bf16" compiles the model in
    bfloat16 behind float32 inputs and results, and records the float32 model's results on the
    check input, with which libtsrt verifies the package when loading it. `batch1` adds the
    model compiled for batch 1 alone (BATCH1_MODEL)."""
    import torch
    from torch._inductor.package import package_aoti

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    metadata = dict(metadata)
    if precision == "bf16":
        shape = [1, *input_shape[1:]]
        with torch.no_grad():
            expected = eager(check_input(shape))
        metadata[PRECISION_FILE] = "bf16"
        metadata[PRECISION_CHECK_FILE] = json.dumps(
            {"shape": shape, "float32": expected.flatten().tolist()}
        )
        eager = _bf16_wrapper(eager)
    example = torch.rand(TRACE_BATCH, *input_shape[1:])
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.inference_mode(False), torch.no_grad():
        program = torch.export.export(eager, (example,), dynamic_shapes=({0: batch},))
    programs = {"model": program}
    if batch1:
        metadata[BATCH1_SHAPES_FILE] = json.dumps([[1, *input_shape[1:]]])
        with torch.inference_mode(False), torch.no_grad():
            programs[BATCH1_MODEL] = torch.export.export(eager, (example[:1].clone(),))
    configs: dict[str, object] = {
        **INDUCTOR_CONFIGS,
        "aot_inductor.metadata": metadata,
        "aot_inductor.package": True,
    }
    files: dict = {}  # the model's name: the files aot_compile wrote for it
    for name, traced in programs.items():
        # Inductor freezes only when gradients are off while it compiles (it tests
        # torch.is_grad_enabled() then, not when the program was traced); with them on,
        # "freezing" is ignored without a word and the package runs plain convolutions on
        # unfolded weights.
        with torch.no_grad(), _conv_weights_packed_when_compiled(), _batch_range_kept():
            args, kwargs = traced.example_inputs
            files[name] = torch._inductor.aot_compile(
                traced.module(check_guards=False), args, kwargs, options=dict(configs)
            )
    package_aoti(str(output), files)
    return output


def _batch_range_kept():
    """While Inductor compiles, it computes each convolution's result on fake tensors; for a
    convolution of stride 1 that asks libtorch which backend it would pick, which depends on
    whether the batch is below 16. Answered with the traced batch (2), the question became a
    guard, and the package refused every batch of 16 or more. With `backed_size_oblivious`
    such questions about the batch take their default answer (here the same: below 16)
    without adding a guard. For ResNet-18 the compiled kernels are byte for byte the same
    either way; only the package's check of the batch range differs (<= 15 before, <= 1024
    after). Scoped to the compile."""
    import torch.fx.experimental._config as shapes_config

    # (patch is added to the module when torch installs it as a config module)
    return shapes_config.patch(backed_size_oblivious=True)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _conv_weights_packed_when_compiled():
    """Inductor packs a convolution's weights into oneDNN's layout once, when it compiles, but
    only where the input's shape is fully known: with a dynamic batch it leaves them plain, and
    every call reorders every convolution's weights again (ResNet-18 in bfloat16 at batch 8:
    20 reorders, 4% of the call). Inductor already packs linear layers' weights for the
    traced batch size in that case; this does the same for (non-transposed) convolutions, for
    the duration of a compile. oneDNN checks the layout at each call and reorders weights packed
    for another shape, so a call is never wrong, only as slow as without the packing. Changes
    nothing if Inductor's pass is not what this expects."""
    try:
        from torch._inductor.fx_passes import mkldnn_fusion as fusion

        device_op = fusion.CpuMkldnnDeviceOp
        free_symbols = fusion.has_free_symbols
        hint = fusion.optimization_hint
        pack = device_op.pack_conv_weight
    except (ImportError, AttributeError):
        yield
        return

    def has_free_symbols(value):
        # The pass that rewrites a (non-transposed) convolution asks this of the input's
        # shape to choose between packing now and packing at every call.
        if sys._getframe(1).f_code.co_name == "convolution":
            return False
        return free_symbols(value)

    def pack_conv_weight(self, graph, is_transposed, weight, constant_args, input_size):
        sizes = [hint(size) if free_symbols(size) else size for size in input_size]
        return pack(self, graph, is_transposed, weight, constant_args, sizes)

    fusion.has_free_symbols = has_free_symbols
    device_op.pack_conv_weight = pack_conv_weight  # type: ignore[method-assign]
    try:
        yield
    finally:
        fusion.has_free_symbols = free_symbols
        device_op.pack_conv_weight = pack  # type: ignore[method-assign]


def load_package(path: Path, model: str = "model"):
    """The package loaded by PyTorch's own Python loader: the reference it is checked with.
    `model` names one of its compiled models (BATCH1_MODEL for batch 1)."""
    from torch._inductor.package import load_package as load

    return load(str(path), model)

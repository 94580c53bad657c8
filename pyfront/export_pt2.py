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

from pathlib import Path

# The batch sizes the package accepts; the example input used for tracing has batch 2, so
# that torch.export does not specialise the batch dimension to 1.
MAX_BATCH = 1024
TRACE_BATCH = 2
# freezing: weights become constants folded into the compiled code (batch norms into
# convolutions), as with TorchScript files exported frozen. libtsrt has the compiled code check
# its inputs (AOTI_RUNTIME_CHECK_INPUTS); without check_lowerbound off, that check would refuse
# batch 1, which torch.export's dynamic dimensions assume never happens (sizes 0 and 1 are
# specialised), though the code handles it.
# cpp.march "": no -march=native, so the code uses only the instruction sets Inductor picks
# for this CPU and names in its compiler flags, which libtsrt checks the running CPU for.
INDUCTOR_CONFIGS = {"freezing": True, "aot_inductor.check_lowerbound": False, "cpp.march": ""}


def compile_package(eager, input_shape, metadata: dict[str, str], output: Path) -> Path:
    """Traces `eager` with a dynamic batch dimension, compiles it and writes the package to
    `output` with `metadata` (string entries) inside."""
    import torch

    example = torch.rand(TRACE_BATCH, *input_shape[1:])
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.inference_mode(False), torch.no_grad():
        program = torch.export.export(eager, (example,), dynamic_shapes=({0: batch},))
    configs: dict[str, object] = {**INDUCTOR_CONFIGS, "aot_inductor.metadata": dict(metadata)}
    # Inductor freezes only when gradients are off while it compiles (it tests
    # torch.is_grad_enabled() then, not when the program was traced); with them on, "freezing"
    # is ignored without a word and the package runs plain convolutions on unfolded weights.
    with torch.no_grad():
        path = torch._inductor.aoti_compile_and_package(
            program, package_path=str(output), inductor_configs=configs
        )
    return Path(path)


def load_package(path: Path):
    """The package loaded by PyTorch's own Python loader: the reference it is checked with."""
    import torch

    return torch._inductor.aoti_load_package(str(path))

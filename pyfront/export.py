"""Export a torchvision classification model to a file that pyfront and libtsrt run.

The default format is a TorchScript file. The recipe: build the model, `torch.jit.script` it,
check that the scripted model's top-5 equals the eager model's on a random input (and fail
loudly if not), save. The file also carries metadata (model name, input shape, labels,
preprocessing, weights source) as the extra file `pyfront/meta.json`, so tools can label
predictions without torchvision.

`--format pt2` writes an AOTInductor package instead (see export_pt2.py): the same model traced
by torch.export with a dynamic batch dimension and compiled to native code, the same sanity
check (on the compiled package) and the same metadata inside. A package's precision is fixed
when it is compiled: `--precision bf16` compiles it in bfloat16 (float32 in and out), checked
against the float32 model within the tolerance tsrt.h states, here and by libtsrt at each load.
A TorchScript file stays float32 and is converted when loaded (`Model(path, precision="bf16")`).
The package also holds the model compiled for batch 1 alone, unless `--no-batch1` leaves that
second copy of the weights out.

The weights are torchvision's pretrained ones (the recipe's `pretrained=True`) unless
`--weights` names a local state_dict or says `random` (a seeded random initialisation). torch's
hub cache keeps the downloaded file, so an offline machine exports once the file is there;
without it the export fails at once, saying which file it looked for and the ways out.

Run as `pyfront export` (or `scripts/export.py` in a checkout). torch and torchvision are
imported only when an export runs: the rest of pyfront never imports torch.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from ._pretrained import (
    DEFAULT,
    RANDOM,
    PretrainedError,
    build_pretrained,
    choice,
    weights_argument,
)
from .export_pt2 import PRECISIONS

META_FILE = "pyfront/meta.json"
SHAPES_FILE = "tsrt/input_shapes"
# The parameter count of the model before freezing, which turns parameters into constants;
# libtsrt reports it as the frozen model's parameter count.
PARAMETERS_FILE = "tsrt/parameter_count"
TORCHSCRIPT = "torchscript"
PT2 = "pt2"
FORMATS = (TORCHSCRIPT, PT2)


class ExportError(SystemExit):
    """An export that cannot be done, with the reason and the way out. A SystemExit, so that
    an uncaught one ends a script with its message and status 1 instead of a traceback."""

    def __str__(self) -> str:
        return str(self.code)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="resnet18",
        help="torchvision classification model name (default: resnet18)",
    )
    parser.add_argument(
        "--weights",
        type=weights_argument,
        default=DEFAULT,
        metavar="default|random|PATH",
        help="torchvision's pretrained weights (default; downloaded into torch's hub cache "
        "once), a seeded random initialisation, or a local state_dict file (.pt/.pth)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=TORCHSCRIPT,
        help="torchscript (default): a TorchScript file; pt2: an AOTInductor package of native "
        "code compiled for this CPU (see the README's .pt2 section)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="with --format pt2: fp32 (default) or bf16, the precision the package is compiled "
        "in (a TorchScript file takes its precision when loaded: pyfront classify --precision)",
    )
    parser.add_argument(
        "--batch1",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --format pt2: also compile the model for batch 1 alone, a little faster on "
        "one image, at the cost of a second copy of the weights (default: yes)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the file (default: <model>.pt, or <model>.pt2 with --format pt2)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the random init and the sanity-check input (default: 0)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="save the scripted module as it is (the recipe's file) instead "
        "of frozen; libtsrt then freezes it when loading",
    )


def parse_args(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser.parse_args(argv)


def _import_torch():
    """torch and torchvision, or an ExportError saying how to install them."""
    try:
        import torch
        import torchvision
    except ImportError as error:
        raise ExportError(
            f"export needs torch and torchvision in this Python ({error}); install the torch "
            f"libtsrt runs on, with its torchvision: {Path(sys.executable).name} -m pip install "
            f"{_torch_requirement()} torchvision"
        ) from None
    return torch, torchvision


def _torch_requirement() -> str:
    try:
        from . import libtorch_version

        return "torch==" + libtorch_version().split("+")[0]
    except Exception:  # noqa: BLE001 - only a hint; the library itself may be what is missing
        return "torch"


def build_model(name: str, weights, seed: int):
    """The eager model with `weights` ("default", "random" or a state_dict path) and the
    metadata's name for them."""
    torch, torchvision = _import_torch()
    from ._weights import WeightsError, load_weights

    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError:
        known = ", ".join(torchvision.models.list_models(module=torchvision.models))
        raise ExportError(f"unknown torchvision model {name!r}; known: {known}") from None
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ExportError(f"{name!r} is not a torchvision classification model")
    try:
        weights = choice(weights)
    except PretrainedError as error:
        raise ExportError(str(error)) from None
    torch.manual_seed(seed)
    if weights == DEFAULT:
        try:
            model, source = build_pretrained(builder, name)
        except PretrainedError as error:
            raise ExportError(str(error)) from None
        return model.eval(), source
    model = builder(weights=None)
    if weights == RANDOM:
        print(
            f"note: --weights random: {name} uses a seeded random initialisation "
            f"(seed {seed}), so its predictions are meaningless",
            file=sys.stderr,
        )
        return model.eval(), f"random init (seed {seed})"
    try:
        load_weights(model, name, Path(weights))
    except WeightsError as error:
        raise ExportError(str(error)) from None
    return model.eval(), f"state_dict {weights}"


def metadata(name: str, weights_source: str) -> dict:
    """Labels and preprocessing of the ImageNet weights torchvision lists for the model; both
    ship inside torchvision and need no download."""
    _, torchvision = _import_torch()

    meta: dict[str, Any] = {
        "model": name,
        "weights": weights_source,
        "input_shape": [1, 3, 224, 224],
    }
    try:
        default = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return meta
    transforms = default.transforms()
    crop = list(getattr(transforms, "crop_size", [224]))
    meta.update(
        {
            "labels": list(default.meta.get("categories", [])),
            "input_shape": [1, 3, crop[0], crop[-1]],
            "preprocessing": {
                "resize": list(getattr(transforms, "resize_size", [256])),
                "crop": crop,
                "interpolation": str(getattr(transforms, "interpolation", "bilinear"))
                .split(".")[-1]
                .lower(),
                "antialias": bool(getattr(transforms, "antialias", True)),
                "mean": list(getattr(transforms, "mean", [0.485, 0.456, 0.406])),
                "std": list(getattr(transforms, "std", [0.229, 0.224, 0.225])),
            },
        }
    )
    return meta


def sanity_check(eager, scripted, input_shape, seed: int, what: str = "scripted") -> None:
    """The recipe's check: eager and scripted (or compiled, `what`) agree on the top-5 of a
    random input."""
    torch, _ = _import_torch()

    generator = torch.Generator().manual_seed(seed)
    example = torch.rand(*input_shape, generator=generator)
    with torch.inference_mode():
        eager_top5 = torch.softmax(eager(example), 1).topk(5).indices[0].tolist()
        scripted_top5 = torch.softmax(scripted(example), 1).topk(5).indices[0].tolist()
    print(f"eager top-5:    {eager_top5}")
    print(f"{what} top-5: {' ' * (len('scripted') - len(what))}{scripted_top5}")
    if eager_top5 != scripted_top5:
        raise ExportError(
            f"FAILED sanity check: the {what} model's top-5 differs from the "
            "eager model's; the file was not written"
        )


def bf16_check(eager, compiled, input_shape, seed: int) -> None:
    """A bfloat16 package's check: within the tolerance tsrt.h states of the float32 model on
    the seeded random input and on the input libtsrt checks it with at each load. (Top-5 orders
    may differ where logits nearly tie: bfloat16 keeps 8 significant bits.)"""
    torch, _ = _import_torch()
    from . import export_pt2

    generator = torch.Generator().manual_seed(seed)
    inputs = {
        "a random input": torch.rand(*input_shape, generator=generator),
        "the load check's input": export_pt2.check_input([1, *input_shape[1:]]),
    }
    for what, example in inputs.items():
        with torch.inference_mode():
            differs = export_pt2.compare_per_sample(
                compiled(example), eager(example), export_pt2.BF16_TOLERANCE
            )
        if differs:
            raise ExportError(
                f"FAILED sanity check: the bfloat16 package differs from the float32 model on "
                f"{what} by more than {export_pt2.BF16_TOLERANCE} of the largest logit "
                f"({differs}); the file was not written. Export it in float32."
            )
    print(f"bfloat16 package within {export_pt2.BF16_TOLERANCE} of float32 on its checks")


def _script(eager, name: str, plain: bool):
    torch, _ = _import_torch()
    with warnings.catch_warnings():
        # torch.jit.script is deprecated upstream but remains the format this project runs.
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.(script|freeze).*deprecated", category=FutureWarning
        )
        try:
            scripted = torch.jit.script(eager)
        except Exception as error:  # noqa: BLE001 - TorchScript's compiler raises many kinds
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ExportError(f"torch.jit.script cannot compile {name}: {first}") from None
        return scripted if plain else torch.jit.freeze(scripted)


def export(
    name="resnet18",
    weights=DEFAULT,
    output=None,
    seed=0,
    plain=False,
    format=TORCHSCRIPT,
    precision="fp32",
    batch1=True,
) -> Path:
    """Scripts, checks and saves the model; frozen unless `plain` (see the README's
    Performance section: weights become constants and batch norms fold into convolutions,
    which is what lets libtsrt fuse operators). `weights` as on the command line: "default"
    (torchvision's pretrained weights), "random" (seeded by `seed`) or a state_dict path.
    `format` "pt2" writes an AOTInductor package instead (always frozen), compiled in
    `precision` ("fp32" or "bf16"), with the model compiled for batch 1 alone unless `batch1`
    is false (export_pt2.BATCH1_MODEL)."""
    if format not in FORMATS:
        raise ExportError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise ExportError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    pt2 = format == PT2
    if precision != "fp32" and not pt2:
        raise ExportError(
            "--precision is chosen when a package is compiled (--format pt2); a TorchScript "
            "file stays float32 and takes its precision when loaded: "
            'pyfront classify --precision bf16, or pyfront.Model(path, precision="bf16")'
        )
    if not batch1 and not pt2:
        raise ExportError("--no-batch1 leaves a model out of a package: it goes with --format pt2")
    output = Path(output) if output else Path(f"{name}.pt2" if pt2 else f"{name}.pt")
    eager, source = build_model(name, weights, seed)
    meta = metadata(name, source)
    meta["parameters"] = sum(p.numel() for p in eager.parameters())
    meta["frozen"] = pt2 or not plain
    if pt2:
        meta["precision"] = precision
    extra = {
        META_FILE: json.dumps(meta),
        # libtsrt warms the model up for these shapes while loading it.
        SHAPES_FILE: "x".join(str(d) for d in meta["input_shape"]) + "\n",
        PARAMETERS_FILE: f"{meta['parameters']}\n",
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    if pt2:
        _export_pt2(eager, name, meta["input_shape"], seed, extra, output, precision, batch1)
        print(f"saved {name} ({source}, AOTInductor package, {precision}) to {output}")
        return output
    scripted = _script(eager, name, plain)
    sanity_check(eager, scripted, meta["input_shape"], seed)
    scripted.save(str(output), _extra_files=extra)
    print(f"saved {name} ({source}, {'plain' if plain else 'frozen'}) to {output}")
    return output


def _export_pt2(
    eager,
    name: str,
    input_shape,
    seed: int,
    extra: dict,
    output: Path,
    precision: str,
    batch1: bool,
) -> None:
    """Compiles the package into a temporary file beside `output`, checks it as loaded by
    PyTorch's own loader, and only then moves it into place."""
    from . import export_pt2

    # aoti_compile_and_package wants a name ending in .pt2.
    partial = output.with_name(output.name + ".partial.pt2")
    try:
        try:
            export_pt2.compile_package(eager, input_shape, extra, partial, precision, batch1)
        except Exception as error:  # noqa: BLE001 - torch.export and Inductor raise many kinds
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ExportError(f"cannot export {name} as a .pt2 package: {first}") from None
        models = ("model", export_pt2.BATCH1_MODEL) if batch1 else ("model",)
        for model in models:  # each compiled model of the package
            compiled = export_pt2.load_package(partial, model)
            if precision == "bf16":
                bf16_check(eager, compiled, input_shape, seed)
            else:
                sanity_check(eager, compiled, input_shape, seed, "compiled")
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def run(args, prog: str) -> int:
    """Runs an export from parsed arguments; a failure is one line on stderr, status 1."""
    try:
        export(
            args.model,
            args.weights,
            args.output,
            args.seed,
            plain=args.plain,
            format=args.format,
            precision=args.precision,
            batch1=args.batch1,
        )
    except ExportError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv=None, prog: str = "export.py") -> int:
    return run(parse_args(argv, prog), prog)


if __name__ == "__main__":
    sys.exit(main(prog="python -m pyfront.export"))

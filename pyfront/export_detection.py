"""Export torchvision's detection and segmentation models to TorchScript files that pyfront and
libtsrt run (`pyfront detect` for detection models). Needs torch and torchvision; nothing else
in pyfront imports this module.

The recipe, adapted to these models' outputs: build the model, `torch.jit.script` it (frozen
unless --plain), run the eager and the scripted model on the same seeded random image and fail
without writing the file unless they agree (detections: the same number, boxes, labels and
scores; segmentation: the same per-pixel classes and scores), then save with the metadata
tools need: task, input kind, category names (shipped inside torchvision, no download), score
threshold, builder options.

    python scripts/export.py --model ssdlite320_mobilenet_v3_large --output ssdlite.pt
    python -m pyfront.export_detection --model fasterrcnn_mobilenet_v3_large_320_fpn \\
        --option box_score_thresh=0 --option min_size=320 --threshold 0.3

The weights are torchvision's pretrained ones (COCO for detection; read from torch's hub cache,
downloaded into it when missing) unless --weights names a local state_dict or says `random`:
the model and its backbone then get a seeded random initialisation.
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
from .export import ExportError

META_FILE = "pyfront/meta.json"
DETECTION, SEGMENTATION = "detection", "segmentation"
# What the detections of each family hold besides boxes, labels and scores.
_EXTRA_OUTPUTS = {"maskrcnn": ["masks"], "keypointrcnn": ["keypoints", "keypoints_scores"]}


def task_of(name: str) -> str | None:
    """ "detection" or "segmentation" for torchvision's models of those kinds, else None."""
    from torchvision import models

    if name in models.list_models(module=models.detection):
        return DETECTION
    if name in models.list_models(module=models.segmentation):
        return SEGMENTATION
    return None


def handles(argv: list[str]) -> bool:
    """Whether the export command line `argv` names a model this module exports."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--model")
    known, _ = peek.parse_known_args(argv)
    return bool(known.model) and task_of(known.model) is not None


def parse_option(text: str) -> tuple[str, Any]:
    """ "score_thresh=0" -> ("score_thresh", 0): a builder keyword with a JSON value (a bare
    word that is not JSON is taken as a string)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}") from None
    if height < 16 or width < 16:
        raise argparse.ArgumentTypeError("the check image must be at least 16x16")
    return height, width


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="export.py", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--model", required=True, help="torchvision detection or segmentation model name"
    )
    parser.add_argument(
        "--weights",
        type=weights_argument,
        default=DEFAULT,
        metavar="default|random|PATH",
        help="torchvision's pretrained weights (default; downloaded into torch's hub cache "
        "once), a seeded random initialisation, or a local state_dict file (.pt/.pth)",
    )
    parser.add_argument("--output", type=Path, help="TorchScript file (default: <model>.pt)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the random init and the check image (default: 0)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="score threshold stored for pyfront detect (default: 0.5)",
    )
    parser.add_argument(
        "--option",
        type=parse_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword for torchvision's model builder, e.g. score_thresh=0, "
        "box_score_thresh=0, num_classes=5, min_size=320 (repeatable)",
    )
    parser.add_argument(
        "--check-size",
        type=parse_size,
        default=(240, 320),
        metavar="HxW",
        help="size of the sanity check's image (240x320)",
    )
    parser.add_argument(
        "--plain", action="store_true", help="save the scripted module as it is instead of frozen"
    )
    return parser.parse_args(argv)


def build_model(name: str, weights, seed: int, options: dict):
    """The eager model with `weights` ("default", "random" or a state_dict path) and the
    metadata's name for them."""
    import torch
    import torchvision

    try:
        weights = choice(weights)
    except PretrainedError as error:
        raise ExportError(f"export.py: {error}") from None
    builder = torchvision.models.get_model_builder(name)
    torch.manual_seed(seed)
    try:
        if weights == DEFAULT:
            model, source = build_pretrained(builder, name, **options)
        else:
            # weights_backbone=None: no download; the backbone is random too, or --weights.
            model = builder(weights=None, weights_backbone=None, **options)
    except PretrainedError as error:
        raise ExportError(f"export.py: {error}") from None
    except (TypeError, ValueError) as error:
        hint = (
            " (the pretrained weights fix some options, such as num_classes; --weights random "
            "or --weights PATH builds without them)"
            if weights == DEFAULT
            else ""
        )
        raise ExportError(
            f"export.py: cannot build {name} with the options {options}: {error}{hint}"
        ) from None
    unknown = sorted(set(options) - accepted_options(name, model))
    if unknown:
        # torchvision's builders pass keywords on and silently drop those nobody takes.
        raise SystemExit(
            f"export.py: {name} takes no option {', '.join(unknown)}; it takes "
            f"{', '.join(sorted(accepted_options(name, model)))}"
        )
    if weights == DEFAULT:
        return model.eval(), source
    if weights == RANDOM:
        print(
            f"note: --weights random: {name} uses a seeded random initialisation (seed "
            f"{seed}), so its predictions are meaningless",
            file=sys.stderr,
        )
        return model.eval(), f"random init (seed {seed})"
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval(), f"state_dict {weights}"


def accepted_options(name: str, model) -> set:
    """The keywords the builder of `name` or the constructor of one of the model's parts
    declares: what --option may set."""
    import inspect

    import torchvision

    def parameters(function) -> set:
        try:
            found = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            return set()
        return {p.name for p in found if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    names = parameters(torchvision.models.get_model_builder(name))
    for part in model.modules():
        for cls in type(part).__mro__:
            if cls.__module__.startswith("torchvision.") and "__init__" in vars(cls):
                names |= parameters(vars(cls)["__init__"])
    return names - {"self", "weights", "weights_backbone", "progress"}


def metadata(
    name: str, task: str, source: str, threshold: float, options: dict, classes: int | None
) -> dict:
    """Category names and input conventions; the names ship inside torchvision."""
    import torchvision

    meta: dict = {"model": name, "task": task, "weights": source, "options": options}
    try:
        default = torchvision.models.get_model_weights(name).DEFAULT
        categories = list(default.meta.get("categories", []))
    except (ValueError, AttributeError):
        default, categories = None, []
    if categories and (classes is None or classes == len(categories)):
        meta["labels"] = categories
    if task == DETECTION:
        family = name.split("_")[0]
        meta.update(
            {
                # forward(images: List[Tensor]): RGB, CHW, float32 in [0, 1], any size; the model
                # resizes and normalises itself and answers in the input's pixel coordinates.
                "input": {
                    "kind": "image_list",
                    "layout": "CHW",
                    "channels": "RGB",
                    "dtype": "float32",
                    "range": [0.0, 1.0],
                },
                "outputs": ["boxes", "labels", "scores", *_EXTRA_OUTPUTS.get(family, [])],
                "score_threshold": threshold,
            }
        )
        if default is not None and "keypoint_names" in default.meta:
            meta["keypoint_names"] = list(default.meta["keypoint_names"])
    else:
        transforms = default.transforms() if default is not None else None
        meta.update(
            {
                # forward(x: Tensor[N, 3, H, W]) normalised as below -> {"out": (N, C, H, W)}.
                "input": {
                    "kind": "image_batch",
                    "layout": "NCHW",
                    "channels": "RGB",
                    "dtype": "float32",
                },
                "outputs": ["out"],
                "preprocessing": {
                    "resize": list(getattr(transforms, "resize_size", [520])),
                    "mean": list(getattr(transforms, "mean", [0.485, 0.456, 0.406])),
                    "std": list(getattr(transforms, "std", [0.229, 0.224, 0.225])),
                },
            }
        )
    return meta


def _detections(output) -> dict:
    """The first image's detections of an eager (list) or scripted ((losses, list)) model."""
    return (output[1] if isinstance(output, tuple) else output)[0]


def sanity_check(task: str, eager, scripted, size: tuple[int, int], seed: int) -> None:
    """Eager and scripted model agree on a seeded random image, or SystemExit."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(3, *size, generator=generator)
    with torch.inference_mode():
        if task == DETECTION:
            expected, got = _detections(eager([image])), _detections(scripted([image]))
            problems = _compare_detections(expected, got)
            print(
                f"eager:    {len(expected['boxes'])} detections; "
                f"scripted: {len(got['boxes'])} detections"
            )
        else:
            problems = _compare_segmentation(
                eager(image[None])["out"], scripted(image[None])["out"]
            )
    if problems:
        raise SystemExit(
            "export.py: FAILED sanity check: the scripted model differs from the "
            "eager model (" + "; ".join(problems) + "); the file was not written"
        )


def _compare_segmentation(expected, got) -> list[str]:
    agree = (expected.argmax(1) == got.argmax(1)).float().mean().item()
    scale = max(expected.abs().max().item(), 1.0)
    gap = (expected - got).abs().max().item()
    print(f"eager and scripted per-pixel classes agree on {agree:.2%}")
    if agree >= 0.999 and gap <= 1e-3 * scale:
        return []
    return [f"per-pixel classes agree on {agree:.2%}, largest score difference {gap:.3g}"]


def _compare_detections(expected: dict, got: dict) -> list[str]:
    import torch

    problems = []
    for key, want in expected.items():
        have = got.get(key)
        if have is None or have.shape != want.shape:
            problems.append(
                f"{key}: {None if have is None else tuple(have.shape)} instead of "
                f"{tuple(want.shape)}"
            )
        elif want.is_floating_point():
            tolerance = 1e-3 * max(want.abs().max().item() if want.numel() else 1.0, 1.0)
            if not torch.allclose(have, want, rtol=0, atol=tolerance):
                problems.append(f"{key} differ by up to {(have - want).abs().max().item():.3g}")
        elif not torch.equal(have, want):
            problems.append(f"{key} differ")
    return problems


def export(
    name: str,
    output=None,
    seed: int = 0,
    weights=DEFAULT,
    threshold: float = 0.5,
    options: dict | None = None,
    check_size=(240, 320),
    plain: bool = False,
) -> Path:
    """Scripts, checks and saves a detection or segmentation model; returns the file.
    `weights` as on the command line: "default" (torchvision's pretrained weights), "random"
    (seeded by `seed`) or a state_dict path."""
    import torch

    task = task_of(name)
    if task is None:
        raise SystemExit(
            f"export.py: {name!r} is not a torchvision detection or segmentation model"
        )
    options = dict(options or {})
    output = Path(output) if output else Path(f"{name}.pt")
    eager, source = build_model(name, weights, seed, options)
    meta = metadata(name, task, source, threshold, options, options.get("num_classes"))
    meta["parameters"] = sum(p.numel() for p in eager.parameters())
    meta["frozen"] = not plain
    with warnings.catch_warnings():
        # torch.jit.script is deprecated upstream but remains the format this project runs;
        # scripted detection models warn that they return (losses, detections).
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings(
            "ignore", category=UserWarning, message=r".*(always returns a|RCNN always returns a).*"
        )
        scripted = torch.jit.script(eager)
        if not plain:
            scripted = torch.jit.freeze(scripted)
        sanity_check(task, eager, scripted, tuple(check_size), seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    # No tsrt/input_shapes: libtsrt's warm-up passes one tensor, and detection models take a
    # list of images.
    scripted.save(str(output), _extra_files={META_FILE: json.dumps(meta)})
    print(f"saved {name} ({task}, {source}, {'plain' if plain else 'frozen'}) to {output}")
    return output


def main(argv=None) -> int:
    args = parse_args(argv)
    export(
        args.model,
        args.output,
        args.seed,
        args.weights,
        args.threshold,
        dict(args.option),
        args.check_size,
        args.plain,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

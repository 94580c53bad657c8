"""Export a torchvision classification model to a TorchScript file that pyfront and libtsrt run.

The recipe: build the model, `torch.jit.script` it, check that the scripted model's top-5
equals the eager model's on a random input (and fail loudly if not), save. The file also
carries metadata (model name, input shape, labels, preprocessing, weights source) as the
extra file `pyfront/meta.json`, so tools can label predictions without torchvision.

Pretrained weights cannot be downloaded on an offline machine: pass `--weights` with a local
state_dict, or the model is built from a seeded random initialisation (and this says so).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

META_FILE = "pyfront/meta.json"
SHAPES_FILE = "tsrt/input_shapes"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18",
                        help="torchvision classification model name (default: resnet18)")
    parser.add_argument("--weights", type=Path,
                        help="local state_dict file (.pt/.pth) to load into the model")
    parser.add_argument("--output", type=Path,
                        help="where to write the TorchScript file (default: <model>.pt)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the random init and the sanity-check input (default: 0)")
    parser.add_argument("--plain", action="store_true",
                        help="save the scripted module as it is (the recipe's file) instead "
                             "of frozen; libtsrt then freezes it when loading")
    return parser.parse_args(argv)


def build_model(name: str, weights: Path | None, seed: int):
    import torch
    import torchvision

    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError:
        known = ", ".join(torchvision.models.list_models(module=torchvision.models))
        raise SystemExit(f"export.py: unknown torchvision model {name!r}; known: {known}")
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise SystemExit(f"export.py: {name!r} is not a torchvision classification model")
    torch.manual_seed(seed)
    model = builder(weights=None)
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        source = f"state_dict {weights}"
    else:
        source = f"random init (seed {seed})"
        print(f"note: no --weights given: {name} uses a seeded random initialisation "
              f"(seed {seed}), so its predictions are meaningless; pretrained weights cannot "
              f"be downloaded here", file=sys.stderr)
    return model.eval(), source


def metadata(name: str, weights_source: str) -> dict:
    """Labels and preprocessing of the ImageNet weights torchvision lists for the model; both
    ship inside torchvision and need no download."""
    import torchvision

    meta = {"model": name, "weights": weights_source, "input_shape": [1, 3, 224, 224]}
    try:
        default = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return meta
    transforms = default.transforms()
    crop = list(getattr(transforms, "crop_size", [224]))
    meta.update({
        "labels": list(default.meta.get("categories", [])),
        "input_shape": [1, 3, crop[0], crop[-1]],
        "preprocessing": {
            "resize": list(getattr(transforms, "resize_size", [256])),
            "crop": crop,
            "interpolation": str(getattr(transforms, "interpolation", "bilinear")).split(".")[-1].lower(),
            "antialias": bool(getattr(transforms, "antialias", True)),
            "mean": list(getattr(transforms, "mean", [0.485, 0.456, 0.406])),
            "std": list(getattr(transforms, "std", [0.229, 0.224, 0.225])),
        },
    })
    return meta


def sanity_check(eager, scripted, input_shape, seed: int) -> None:
    """The recipe's check: eager and scripted agree on the top-5 of a random input."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    example = torch.rand(*input_shape, generator=generator)
    with torch.inference_mode():
        eager_top5 = torch.softmax(eager(example), 1).topk(5).indices[0].tolist()
        scripted_top5 = torch.softmax(scripted(example), 1).topk(5).indices[0].tolist()
    print(f"eager top-5:    {eager_top5}")
    print(f"scripted top-5: {scripted_top5}")
    if eager_top5 != scripted_top5:
        raise SystemExit("export.py: FAILED sanity check: the scripted model's top-5 differs "
                         "from the eager model's; the file was not written")


def export(name="resnet18", weights=None, output=None, seed=0, plain=False) -> Path:
    """Scripts, checks and saves the model; frozen unless `plain` (see the README's
    Performance section: weights become constants and batch norms fold into convolutions,
    which is what lets libtsrt fuse operators)."""
    import torch

    output = Path(output) if output else Path(f"{name}.pt")
    eager, source = build_model(name, weights, seed)
    meta = metadata(name, source)
    meta["parameters"] = sum(p.numel() for p in eager.parameters())
    meta["frozen"] = not plain
    with warnings.catch_warnings():
        # torch.jit.script is deprecated upstream but remains the format this project runs.
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.(script|freeze).*deprecated",
                                category=FutureWarning)
        scripted = torch.jit.script(eager)
        if not plain:
            scripted = torch.jit.freeze(scripted)
    sanity_check(eager, scripted, meta["input_shape"], seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    extra = {META_FILE: json.dumps(meta),
             # libtsrt warms the model up for these shapes while loading it.
             SHAPES_FILE: "x".join(str(d) for d in meta["input_shape"]) + "\n"}
    scripted.save(str(output), _extra_files=extra)
    print(f"saved {name} ({source}, {'plain' if plain else 'frozen'}) to {output}")
    return output


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    from pyfront import export_detection  # torchvision's detection and segmentation models

    if export_detection.handles(argv):
        return export_detection.main(argv)
    args = parse_args(argv)
    export(args.model, args.weights, args.output, args.seed, plain=args.plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The seed corpus of scripts/fuzz.py: small models that between them hold what real files
hold, each with the description of its inputs that the fuzzer calls it with.

    python scripts/fuzz_seeds.py build/fuzz-seeds          # the TorchScript seeds
    python scripts/fuzz_seeds.py build/fuzz-seeds --pt2    # and a tiny .pt2 (about 20 s)

Each TorchScript seed carries the extra file `fuzz/inputs.json`: for each method, its
arguments (see `INPUTS_FILE` in scripts/fuzz_worker.py for the format). A model without one is
called with arguments built from its methods' schemas instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from torchvision import ops

INPUTS_FILE = "fuzz/inputs.json"


def tensor(*shape: int, dtype: str = "float32") -> dict:
    return {"tensor": list(shape), "dtype": dtype}


class Small(torch.nn.Module):
    """Convolutions, batch norm, a tensor constant and a second method."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
        return self.fc(y) * torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])

    @torch.jit.export
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1)


class Containers(torch.nn.Module):
    """Lists, dicts, tuples and Optional of tensors in and out; scalars and a string in."""

    def forward(
        self,
        xs: List[torch.Tensor],
        table: Dict[str, torch.Tensor],
        pair: Tuple[int, torch.Tensor],
        maybe: Optional[torch.Tensor] = None,
    ) -> Tuple[List[torch.Tensor], Dict[str, Tuple[int, float]], Optional[torch.Tensor]]:
        total = pair[1] * pair[0]
        for x in xs:
            total = total + x.sum()
        sizes: Dict[str, Tuple[int, float]] = {}
        for key, value in table.items():
            sizes[key] = (value.numel(), float(value.sum()))
        return [total, total * 2], sizes, maybe

    @torch.jit.export
    def scalars(
        self, x: torch.Tensor, scale: float, n: int, flag: bool, name: str
    ) -> Tuple[torch.Tensor, Dict[str, int], List[str]]:
        return x * scale + n, {"n": n, "flag": int(flag)}, [name, name.upper()]


class Methods(torch.nn.Module):
    """Several exported methods, with defaults, no arguments, and results of several kinds."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    @torch.jit.export
    def predict(self, x: torch.Tensor, k: int = 2) -> Tuple[torch.Tensor, torch.Tensor]:
        return torch.topk(self.linear(x), k)

    @torch.jit.export
    def describe(self) -> str:
        return "linear 4 -> 3"

    @torch.jit.export
    def scaled(self, x: torch.Tensor, factor: Optional[float] = None) -> List[torch.Tensor]:
        y = self.linear(x)
        if factor is not None:
            y = y * factor
        return [y, y.sum(dim=1)]


class Counter(torch.nn.Module):
    """Keeps state: an int attribute and a buffer changed in place, a method that resets them."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.register_buffer("total", torch.zeros(3))

    def forward(self, step: int, x: torch.Tensor) -> Tuple[int, torch.Tensor]:
        self.count += step
        self.total.add_(x)
        return self.count, self.total

    @torch.jit.export
    def reset(self) -> None:
        self.count = 0
        self.total.zero_()


class Quantized(torch.nn.Module):
    """A dynamically quantized Linear (packed int8 weights restored by __setstate__) and a
    quantized tensor attribute."""

    def __init__(self):
        super().__init__()
        self.linear = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(torch.nn.Linear(4, 3)), {torch.nn.Linear}, dtype=torch.qint8
        )
        self.q = torch.quantize_per_tensor(torch.linspace(-1, 1, 3), 0.05, 3, torch.quint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.q.dequantize()

    @torch.jit.export
    def requantize(self, x: torch.Tensor) -> torch.Tensor:
        return torch.quantize_per_tensor(x, 0.1, 0, torch.quint8).dequantize()


class BFloat16(torch.nn.Module):
    """A bfloat16 parameter and constant; a method returning bfloat16."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.linspace(-2, 2, 8).to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.to(torch.bfloat16) * self.weight + torch.tensor(0.5, dtype=torch.bfloat16)
        return y.float()

    @torch.jit.export
    def half_width(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 1.37).to(torch.bfloat16)


class Nms(torch.nn.Module):
    """Calls a custom operator, torchvision::nms."""

    def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return ops.nms(boxes, scores, 0.5)


class TinyNet(torch.nn.Module):
    """The model of the frozen seed: a convolution and a Linear."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


IMAGE = tensor(2, 3, 16, 16)

# name: (module factory, inputs by method, other extra files, frozen)
SEEDS = {
    "small": (Small, {"forward": [IMAGE], "embed": [IMAGE]}, {"meta.json": '{"k": 1}'}, False),
    "containers": (
        Containers,
        {
            "forward": [
                [tensor(2, 3), tensor(4)],
                {"dict": {"a": tensor(3), "b": tensor(2, 2)}},
                {"tuple": [3, tensor(2)]},
                tensor(2),
            ],
            "scalars": [tensor(2, 2), 0.5, 3, True, "name"],
        },
        {},
        False,
    ),
    "methods": (
        Methods,
        {
            "forward": [tensor(2, 4)],
            "predict": [tensor(2, 4), 2],
            "describe": [],
            "scaled": [tensor(2, 4), None],
        },
        {},
        False,
    ),
    "counter": (Counter, {"forward": [1, tensor(3)], "reset": []}, {}, False),
    "extra_files": (
        TinyNet,
        {"forward": [IMAGE]},
        {
            "pyfront/meta.json": json.dumps(
                {"model": "tiny", "labels": [str(i) for i in range(10)]}
            ),
            "tsrt/input_shapes": "2x3x16x16\n",
            "tsrt/parameter_count": "314",
            "notes/empty": "",
            "notes/deep/blob.bin": bytes(range(256)) * 4,
        },
        False,
    ),
    "frozen": (TinyNet, {"forward": [IMAGE]}, {"tsrt/input_shapes": "2x3x16x16"}, True),
    "quantized": (Quantized, {"forward": [tensor(2, 4)], "requantize": [tensor(3)]}, {}, False),
    "bfloat16": (BFloat16, {"forward": [tensor(2, 8)], "half_width": [tensor(2, 3)]}, {}, False),
    "nms": (Nms, {"forward": [tensor(6, 4), tensor(6)]}, {}, False),
}


def write_seed(name: str, folder: Path) -> Path:
    factory, inputs, extra, frozen = SEEDS[name]
    torch.manual_seed(0)
    files = {INPUTS_FILE: json.dumps(inputs), **extra}
    path = folder / f"{name}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's and torch.ao's deprecation warnings
        scripted = torch.jit.script(factory().eval())
        if frozen:
            scripted = torch.jit.freeze(scripted)
        scripted.save(str(path), _extra_files=files)
    return path


class Pt2Seed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(x))


def write_pt2_seed(folder: Path) -> Path:
    """A tiny AOTInductor package (a Linear and a ReLU; about 20 s to compile), with pyfront's
    metadata and its input shape."""
    from pyfront import export_pt2

    torch.manual_seed(0)
    metadata = {
        "pyfront/meta.json": json.dumps({"model": "pt2-seed", "input_shape": [2, 8]}),
        "tsrt/input_shapes": "2x8\n",
    }
    return export_pt2.compile_package(Pt2Seed().eval(), [2, 8], metadata, folder / "tiny.pt2")


def write_seeds(folder: Path, names=None, pt2: bool = False) -> list[Path]:
    """Writes the seeds (all TorchScript ones, or those in `names`) into `folder`, and the .pt2
    seed with `pt2`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_seed(name, folder) for name in (names or SEEDS)]
    if pt2:
        paths.append(write_pt2_seed(folder))
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pt2", action="store_true", help="also compile the .pt2 seed")
    args = parser.parse_args(argv)
    for path in write_seeds(args.folder, pt2=args.pt2):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""TorchScript models that call torchvision's operators, for the tests of operator libraries
and detection."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Dict, List, Tuple

import torch
import torchvision
from torchvision import ops


class Nms(torch.nn.Module):
    def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return ops.nms(boxes, scores, 0.5)


class BatchedNms(torch.nn.Module):
    def forward(
        self, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor
    ) -> torch.Tensor:
        return ops.batched_nms(boxes, scores, classes, 0.3)


class RoiAlign(torch.nn.Module):
    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return ops.roi_align(
            features, rois, (5, 4), spatial_scale=0.5, sampling_ratio=2, aligned=True
        )


class RoiPool(torch.nn.Module):
    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return ops.roi_pool(features, rois, (3, 3), spatial_scale=0.5)


class DeformConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = ops.DeformConv2d(3, 4, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        return self.conv(x, offset)


class RoiClassifier(torch.nn.Module):
    """An image in, (N, 10) logits out, through roi_align: a model ts-infer can run."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.fc = torch.nn.Linear(8 * 7 * 7 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rois = torch.tensor([[0.0, 0.0, 0.0, 40.0, 40.0], [0.0, 10.0, 20.0, 50.0, 56.0]])
        pooled = ops.roi_align(self.conv(x), rois, (7, 7), 0.25, 2, True)
        return self.fc(pooled.reshape(x.shape[0], -1))


class FixedDetector(torch.nn.Module):
    """Answers every image with the same two detections, in torchvision's scripted form."""

    def forward(
        self, images: List[torch.Tensor]
    ) -> Tuple[Dict[str, torch.Tensor], List[Dict[str, torch.Tensor]]]:
        found: List[Dict[str, torch.Tensor]] = []
        for _ in images:
            found.append(
                {
                    "boxes": torch.tensor(
                        [[20.0, 30.0, 120.0, 90.0], [150.0, 100.0, 190.0, 140.0]]
                    ),
                    "labels": torch.tensor([1, 2]),
                    "scores": torch.tensor([0.9, 0.3]),
                }
            )
        return {}, found


def save(module: torch.nn.Module, path: Path, extra: dict | None = None) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(module.eval()).save(str(path), _extra_files=extra or {})
    return path


def with_operator_renamed(source: Path, target: Path, old: str, new: str) -> Path:
    """A copy of a TorchScript file whose code calls operator `new` where it called `old`
    ("torchvision.nms" -> "nobody.frobnicate"): a model needing an operator that no library
    registers, which torch.jit.script itself would refuse to make."""
    with zipfile.ZipFile(source) as reading, zipfile.ZipFile(target, "w") as writing:
        for info in reading.infolist():
            data = reading.read(info)
            if info.filename.endswith(".py"):
                data = data.replace(old.encode(), new.encode())
            writing.writestr(info, data)
    return target


def detection_inputs(height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed))


def reference_detections(path: Path, image: torch.Tensor) -> dict:
    """What torch.jit.load in Python gives for one image: the first image's dict."""
    module = torch.jit.load(str(path)).eval()
    with torch.inference_mode():
        _, found = module([image])
    return {key: value.numpy() for key, value in found[0].items()}


VERSION = torchvision.__version__

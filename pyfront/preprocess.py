"""Image preprocessing for classifiers, in numpy and Pillow (no torch), identical to
torchvision's ImageClassification preset: resize the shorter side with antialiasing, centre
crop, scale to [0, 1], normalise. The numbers come from the model file's metadata (written by
scripts/export.py); ImageNet's are the fallback."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    resize: int = 256
    crop: tuple = (224, 224)
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"

    @classmethod
    def from_metadata(cls, metadata: dict) -> Preprocessing:
        spec = metadata.get("preprocessing") or {}
        crop = spec.get("crop", [224])
        resize = spec.get("resize", [256])
        return cls(
            resize=int(resize[0]),
            crop=(int(crop[0]), int(crop[-1])),
            mean=tuple(spec.get("mean", IMAGENET_MEAN)),
            std=tuple(spec.get("std", IMAGENET_STD)),
            interpolation=str(spec.get("interpolation", "bilinear")),
        )


def open_rgb(path):
    """Reads an image file Pillow understands, in any mode, as 8-bit RGB. 16-bit and 32-bit
    greyscale keep their top 8 bits; alpha is dropped; palettes are expanded."""
    from PIL import Image

    with Image.open(path) as opened:
        opened.load()
        image: Image.Image = opened
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            image = Image.fromarray((np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8))
        elif image.mode in ("I", "F"):
            values = np.asarray(image, dtype=np.float64)
            top = values.max() if values.size and values.max() > 255 else 255.0
            image = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8))
        return image.convert("RGB")


def preprocess(image, spec: Preprocessing = Preprocessing()) -> np.ndarray:
    """A (3, crop_h, crop_w) float32 array from a Pillow RGB image."""
    from PIL import Image

    modes = Image.Resampling
    filters = {"bilinear": modes.BILINEAR, "bicubic": modes.BICUBIC, "nearest": modes.NEAREST}
    width, height = image.size
    # As torchvision's resize to one size: the shorter side becomes `resize`, the other
    # scales with it, truncated.
    if width <= height:
        size = (spec.resize, int(spec.resize * height / width))
    else:
        size = (int(spec.resize * width / height), spec.resize)
    resized = image.resize(size, filters.get(spec.interpolation, modes.BILINEAR))
    pixels = np.asarray(resized, dtype=np.uint8)
    crop_h, crop_w = spec.crop
    top = int(round((size[1] - crop_h) / 2.0))
    left = int(round((size[0] - crop_w) / 2.0))
    if top < 0 or left < 0:
        raise ValueError(
            f"the image resized to {size[0]}x{size[1]} is smaller than the {crop_w}x{crop_h} crop"
        )
    pixels = pixels[top : top + crop_h, left : left + crop_w]
    scaled = pixels.astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    mean = np.asarray(spec.mean, np.float32)[:, None, None]
    std = np.asarray(spec.std, np.float32)[:, None, None]
    return (scaled - mean) / std

"""Drawing detections on an image with Pillow: a coloured box per detection and its label and
score on a filled tag above it."""

from __future__ import annotations

# Distinct colours, one per class index (cycled), readable with white text on them.
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 160, 160),
    (240, 50, 230),
    (128, 128, 0),
    (0, 0, 128),
    (170, 110, 40),
]
TEXT = (255, 255, 255)


def colour_of(index: int) -> tuple:
    return PALETTE[index % len(PALETTE)]


def line_width(width: int, height: int) -> int:
    """Thick enough to see on large photos, thin on small images."""
    return max(2, round(min(width, height) / 200))


def label_font(width: int, height: int):
    """Pillow's own font, sized to the image where Pillow can scale it (10.1 and later)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=max(11, min(width, height) // 40))
    except TypeError:  # older Pillow: one bitmap size
        return ImageFont.load_default()


def draw_detections(image, detections: list[dict]):
    """A copy of the Pillow RGB `image` with `detections` ({"box", "index", "label", "score"},
    as pyfront.detect gives them) drawn on it; the best last, so it is on top."""
    from PIL import ImageDraw

    canvas = image.convert("RGB")  # a copy
    draw = ImageDraw.Draw(canvas)
    font = label_font(*canvas.size)
    width = line_width(*canvas.size)
    for found in reversed(detections):
        colour = colour_of(found["index"])
        x1, y1, x2, y2 = found["box"]
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        text = f"{found['label']} {found['score']:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tag_w, tag_h = right - left + 4, bottom - top + 4
        # Above the box, or inside its top edge when the box touches the image's top.
        tag_y = y1 - tag_h if y1 - tag_h >= 0 else y1
        draw.rectangle([x1, tag_y, x1 + tag_w, tag_y + tag_h], fill=colour)
        draw.text((x1 + 2 - left, tag_y + 2 - top), text, fill=TEXT, font=font)
    return canvas

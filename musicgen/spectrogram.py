"""The spectrogram picture the page shows: a colour-mapped log-mel with the join marked.

Drawn with Pillow and a small built-in colour map, so the app needs no matplotlib.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Anchor colours of a magma-like map (dark purple -> orange -> pale yellow), no matplotlib.
_CMAP = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                  [245, 125, 21], [250, 193, 39], [252, 253, 191]], dtype=np.float64)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB with the magma-like anchors."""
    x = np.clip(values, 0.0, 1.0) * (len(_CMAP) - 1)
    anchors = np.arange(len(_CMAP))
    rgb = [np.interp(x, anchors, _CMAP[:, c]) for c in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def spectrogram_image(log_mel: np.ndarray, join_fraction: float, width: int = 1000,
                      height: int = 256, range_db: float = 80.0) -> Image.Image:
    """A colour-mapped log-mel picture (low frequencies at the bottom) with a vertical line
    where the seed ends (`join_fraction` of the width) and the labels "seed" / "new"."""
    mel = np.asarray(log_mel, dtype=np.float64)
    if mel.ndim != 2 or mel.size == 0:
        raise ValueError(f"log_mel must be a non-empty [frames, n_mels] array, got {mel.shape}")
    top = float(mel.max())
    scaled = (mel.T[::-1] - (top - range_db)) / range_db  # [n_mels, frames], low mels last
    image = Image.fromarray(colormap(scaled), "RGB").resize((width, height),
                                                            Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    x = int(round(np.clip(join_fraction, 0.0, 1.0) * (width - 1)))
    font = _font(max(12, height // 12))
    for text, right_of_line in (("seed", False), ("new", True)):
        left, _, right, bottom = draw.textbbox((0, 0), text, font=font)
        box_w, box_h = right - left + 8, bottom + 6
        bx = x + 6 if right_of_line else x - 6 - box_w
        bx = int(np.clip(bx, 0, width - box_w))
        by = height - 4 - box_h  # at the bottom: Gradio overlays its label and buttons on top
        draw.rectangle([bx, by, bx + box_w, by + box_h], fill=(0, 0, 0))
        draw.text((bx + 4, by + 2), text, fill=(255, 255, 255), font=font)
    draw.rectangle([x - 3, 0, x + 3, height - 1], fill=(0, 0, 0))  # drawn last, a dark edge:
    draw.rectangle([x - 1, 0, x + 1, height - 1], fill=(255, 255, 255))  # seen on any colour
    return image

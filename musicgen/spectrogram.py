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


_TICK_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0)
AXIS_HEIGHT = 22  # the time axis strip under the picture, in pixels


def tick_step(seconds: float, width: int, min_gap: int = 70) -> float:
    """The smallest of 0.5, 1, 2, 5, 10 ... seconds whose ticks are >= `min_gap` px apart."""
    for step in _TICK_STEPS:
        if step * width / max(seconds, 1e-9) >= min_gap:
            return step
    return _TICK_STEPS[-1]


def _label(draw: ImageDraw.ImageDraw, font, text: str, x: int, y: int) -> None:
    left, _, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.rectangle([x, y, x + right - left + 8, y + bottom + 6], fill=(0, 0, 0))
    draw.text((x + 4, y + 2), text, fill=(255, 255, 255), font=font)


def _join_labels(draw: ImageDraw.ImageDraw, font, x: int, width: int, height: int) -> None:
    """"seed" left of the join line and "new" right of it, at the bottom (Gradio overlays its
    label and buttons on top). A label with no room on its side goes on the other side one
    row up, with an arrow pointing at its part ("< seed" on a 60 s output)."""
    for text, right_of_line in (("seed", False), ("new", True)):
        left, _, right, bottom = draw.textbbox((0, 0), text, font=font)
        box_w, box_h = right - left + 8, bottom + 6
        by = height - 4 - box_h
        if (x + 6 + box_w > width) if right_of_line else (x - 6 - box_w < 0):
            text, right_of_line = (f"{text} >", False) if right_of_line else (f"< {text}", True)
            left, _, right, _ = draw.textbbox((0, 0), text, font=font)
            box_w, by = right - left + 8, by - box_h - 4
        bx = x + 6 if right_of_line else x - 6 - box_w
        _label(draw, font, text, int(np.clip(bx, 0, width - box_w)), by)


def _time_axis(image: Image.Image, seconds: float, font) -> Image.Image:
    """`image` with a strip below it: ticks and labels in seconds ("0 s", "5", "10" ...)."""
    width, height = image.size
    out = Image.new("RGB", (width, height + AXIS_HEIGHT), (255, 255, 255))
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    step = tick_step(seconds, width)
    for k in range(int(seconds / step + 1e-9) + 1):
        t = k * step
        x = int(round(t / seconds * (width - 1)))
        draw.line([x, height, x, height + 4], fill=(0, 0, 0), width=1)
        text = f"{t:g} s" if k == 0 else f"{t:g}"
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        tx = int(np.clip(x - (right - left) / 2, 0, width - (right - left) - 1))
        draw.text((tx, height + 5), text, fill=(0, 0, 0), font=font)
    return out


def spectrogram_image(log_mel: np.ndarray, join_fraction: float, width: int = 1000,
                      height: int = 256, range_db: float = 80.0,
                      seconds: float | None = None) -> Image.Image:
    """A colour-mapped log-mel picture (low frequencies at the bottom) with a vertical line
    where the seed ends (`join_fraction` of the width) and the labels "seed" / "new"; given
    the output's length in `seconds`, a time axis below it."""
    mel = np.asarray(log_mel, dtype=np.float64)
    if mel.ndim != 2 or mel.size == 0:
        raise ValueError(f"log_mel must be a non-empty [frames, n_mels] array, got {mel.shape}")
    top = float(mel.max())
    scaled = (mel.T[::-1] - (top - range_db)) / range_db  # [n_mels, frames], low mels last
    image = Image.fromarray(colormap(scaled), "RGB").resize((width, height),
                                                            Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    x = int(round(np.clip(join_fraction, 0.0, 1.0) * (width - 1)))
    _join_labels(draw, _font(max(12, height // 12)), x, width, height)
    draw.rectangle([x - 3, 0, x + 3, height - 1], fill=(0, 0, 0))  # drawn last, a dark edge:
    draw.rectangle([x - 1, 0, x + 1, height - 1], fill=(255, 255, 255))  # seen on any colour
    if seconds is not None and seconds > 0:
        image = _time_axis(image, seconds, _font(12))
    return image

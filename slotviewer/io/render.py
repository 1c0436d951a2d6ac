"""Turning traces into pictures (numpy + PIL): slot colours, overlays, maps at the input's size.

Shared by the exporters and the GUI so a slot has the same colour everywhere.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image


def slot_colours(k: int) -> np.ndarray:
    """`[K, 3]` uint8 distinct, saturated colours (golden-ratio hue steps, stable for a given index)."""
    hues = (np.arange(k) * 0.618033988749895 + 0.08) % 1.0
    return np.array([[round(c * 255) for c in colorsys.hsv_to_rgb(h, 0.75, 1.0)] for h in hues], np.uint8)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resize_uint8(image: np.ndarray, height: int, width: int, nearest: bool = False) -> np.ndarray:
    """Resize a uint8 `[h, w]` or `[h, w, C]` image (bilinear, or nearest for labels / pixel art)."""
    if image.shape[:2] == (height, width):
        return image
    resample = Image.NEAREST if nearest else Image.BILINEAR
    return np.asarray(Image.fromarray(image).resize((width, height), resample))


def masks_at(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per-slot alpha `[K, R, R]` → 8-bit masks `[K, H, W]` at the input's size (one byte per pixel,
    so very large inputs stay affordable)."""
    return np.stack([resize_uint8(to_uint8(a), height, width) for a in alpha])


def labels_from_masks(masks: np.ndarray) -> np.ndarray:
    """The label map as the argmax of the masks (what `labels.png` is with `--labels-by alpha`)."""
    return masks.argmax(axis=0).astype(np.uint8)


def colour_labels(labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    return colours[labels]


def attention_overlay(image: np.ndarray, attention: np.ndarray, colours: np.ndarray, strength: float = 0.65
                      ) -> np.ndarray:
    """Blend each slot's colour over `image [H, W, 3]` uint8 in proportion to its attention `[K, h, w]`."""
    h, w = image.shape[:2]
    weights = np.stack([np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
                        for a in attention])
    tint = np.einsum("khw,kc->hwc", weights, colours.astype(np.float32))
    return (image.astype(np.float32) * (1 - strength) + tint * strength).clip(0, 255).astype(np.uint8)


def display_size(height: int, width: int, minimum: int = 256, maximum: int = 512) -> tuple[int, int]:
    """A size for previews: small model outputs are scaled up, big inputs down, aspect kept."""
    scale = min(max(minimum / max(height, width), 1.0), maximum / max(height, width)) if max(height, width) else 1.0
    return max(1, round(height * scale)), max(1, round(width * scale))

"""Any image array → the model's input, and model-resolution maps → the input's size (numpy + PIL only)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from slotviewer.errors import InputError


def to_float_rgb(image: np.ndarray) -> np.ndarray:
    """RGB/RGBA/grey, uint8/uint16/float/bool → float32 `[H, W, 3]` in [0, 1].

    RGBA is composited over black (the background the shipped models were trained on).
    """
    a = np.asarray(image)
    if a.size == 0:
        raise InputError(f"empty image (shape {a.shape})")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InputError(f"expected an H×W, H×W×3 or H×W×4 image, got shape {a.shape}")
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535.0
    elif a.dtype == bool:
        f = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0)
    else:
        raise InputError(f"unsupported pixel type {a.dtype} (use uint8, uint16 or float in [0, 1])")
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    elif f.shape[2] == 4:
        f = f[:, :, :3] * f[:, :, 3:]
    return np.ascontiguousarray(f)


def resize_channels(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize float32 `[..., h, w]` planes to `[..., height, width]` (antialiased bilinear)."""
    lead = array.shape[:-2]
    planes = array.reshape(-1, *array.shape[-2:]).astype(np.float32, copy=False)
    if planes.shape[1:] == (height, width):
        return planes.reshape(*lead, height, width).copy()
    out = np.empty((len(planes), height, width), np.float32)
    for i, plane in enumerate(planes):
        out[i] = np.asarray(Image.fromarray(plane, mode="F").resize((width, height), Image.BILINEAR))
    return out.reshape(*lead, height, width)


def model_input(image: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(float `[3, R, R]` for the model, uint8 `[H, W, 3]` display copy of the input).

    Non-square images are stretched to the square model input and mapped back the same way on
    export, so every output pixel lines up with its input pixel.
    """
    rgb = to_float_rgb(image)
    display = (rgb * 255.0 + 0.5).astype(np.uint8)
    planes = resize_channels(rgb.transpose(2, 0, 1), resolution, resolution)
    return planes.clip(0.0, 1.0), display

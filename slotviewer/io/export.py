"""Write a `Trace` to a folder, all at the input's resolution, atomically as a whole.

Layout of `OUT/<stem>/`: `labels.png`, `masks/slot_XX.png`, `slots/slot_XX.png` (RGBA),
`reconstruction.png`, `attention.npz`, `trace.json`, and with `gif=True` `attention.gif`.
Everything is first written to a hidden temporary folder and renamed into place at the end, so an
error never leaves a half-written result behind.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from slotviewer.engine.preprocess import resize_channels
from slotviewer.engine.trace import Trace
from slotviewer.errors import SlotviewerError
from slotviewer.io.render import (
    attention_overlay,
    display_size,
    labels_from_masks,
    masks_at,
    resize_uint8,
    slot_colours,
    to_uint8,
)

NPZ_MAX_SIDE = 1024


class OutputExistsError(SlotviewerError):
    """The output folder exists and overwriting was not asked for."""


def _png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path, format="PNG")


def npz_size(height: int, width: int, max_side: int = NPZ_MAX_SIDE) -> tuple[int, int]:
    """Arrays in `attention.npz` are at the input's size, or scaled so the longer side is `max_side`."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def attention_gif(trace: Trace) -> bytes:
    """One frame per iteration: the input tinted by each slot's attention, labelled `t = i/T`."""
    h, w = display_size(*trace.image.shape[:2])
    base = resize_uint8(trace.image, h, w)
    colours = slot_colours(trace.num_slots)
    frames = [Image.fromarray(base)]
    for attention in trace.attention:
        frames.append(Image.fromarray(attention_overlay(base, attention, colours)))
    for t, frame in enumerate(frames):
        ImageDraw.Draw(frame).text((4, 4), f"t = {t}/{trace.iterations}", fill=(255, 255, 255))
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=700, loop=0)
    return buffer.getvalue()


def write_trace(trace: Trace, out_dir: str | Path, *, overwrite: bool = False, gif: bool = False,
                extra: dict[str, Any] | None = None, files: dict[str, bytes] | None = None) -> Path:
    """Write all outputs of `trace` into `out_dir` (created; replaced only with `overwrite`).

    `extra` goes into trace.json; `files` are further files (name → bytes) written in the same
    atomic step, such as the GUI's screenshot of the view.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise OutputExistsError(f"{out_dir}: already exists (use --overwrite to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        _write_into(trace, tmp, gif, extra or {})
        for name, data in (files or {}).items():
            (tmp / name).write_bytes(data)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _write_into(trace: Trace, folder: Path, gif: bool, extra: dict[str, Any]) -> None:
    height, width = trace.image.shape[:2]
    k = trace.num_slots
    alpha = trace.alpha()
    masks = masks_at(alpha, height, width)
    (folder / "masks").mkdir()
    (folder / "slots").mkdir()
    _png(folder / "labels.png", labels_from_masks(masks))
    for i in range(k):
        _png(folder / "masks" / f"slot_{i:02d}.png", masks[i])
        rgba = np.dstack([resize_uint8(to_uint8(trace.rgb[i]), height, width), masks[i]])
        _png(folder / "slots" / f"slot_{i:02d}.png", rgba)
    _png(folder / "reconstruction.png", resize_uint8(to_uint8(trace.composite()), height, width))

    nh, nw = npz_size(height, width)
    np.savez_compressed(
        folder / "attention.npz",
        attention=resize_channels(trace.attention, nh, nw),
        slots=trace.slots.astype(np.float32),
        rgb=resize_channels(trace.rgb.transpose(0, 3, 1, 2), nh, nw).transpose(0, 2, 3, 1),
        alpha=resize_channels(alpha, nh, nw),
        enabled=np.array(trace.enabled, dtype=bool),
    )
    if gif:
        (folder / "attention.gif").write_bytes(attention_gif(trace))
    record = {
        **extra,
        **trace.provenance,
        "input_size": [height, width],
        "npz_size": [nh, nw],
        "enabled": list(trace.enabled),
        "edits": list(trace.edits),
        "timings_ms": {key: round(v, 3) for key, v in trace.timings_ms.items()},
    }
    (folder / "trace.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

"""Write a `Trace` to a folder, at the input's resolution, atomically as a whole.

It sits above the engine (it reads `Trace`s), so it lives here and not in `io/`, which the engine may use.

Layout of `OUT/<stem>/`: `labels.png` (the exact slot index per pixel: the argmax of the colour posterior,
or of the decoder's alpha with `label_by="alpha"`), `labels_color.png` (the same in the slot colours),
`masks/slot_XX.png` (the decoder's alpha), `slots/slot_XX.png` (RGBA), `reconstruction.png`,
`attention.npz` (float16, at the model's resolution unless asked for the input's; with the posterior),
`trace.json`, and with `gif=True` `attention.gif`. Everything is first written to a hidden temporary folder and renamed
into place at the end, so an error never leaves a half-written result behind.

Writing is the slow part of `slotviewer run` for large inputs, so the PNGs are encoded with fast zlib
settings on a few threads (Pillow releases the GIL while it compresses), and the maps are scaled up
inside Pillow rather than in numpy.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw

from slotviewer.engine.preprocess import resize_channels
from slotviewer.engine.trace import Trace, argmax_planes, check_label_by
from slotviewer.errors import SlotviewerError
from slotviewer.io.atomic import temporary_dir
from slotviewer.io.render import attention_overlay, display_size, resize_uint8, slot_colours, to_uint8

NPZ_MAX_SIDE = 1024
AttentionSize = Literal["model", "input"]
ATTENTION_SIZES: tuple[str, ...] = ("model", "input")
PNG_LEVEL = 1  # zlib level: 3-5× faster than Pillow's default 6, files ~10-20% larger
WRITE_THREADS = min(4, os.cpu_count() or 1)


class OutputExistsError(SlotviewerError):
    """The output folder exists and overwriting was not asked for."""


def _opencv():  # noqa: ANN202
    """OpenCV when installed: it scales up ~5× faster than Pillow and lets PNG use one fixed row filter
    (SUB, with run-length zlib), which halves the encoding time and size of a large RGBA map.
    Without it, Pillow does the same work, slower."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _png(path: Path, array: np.ndarray) -> None:
    """Encode a uint8 `[H, W]`, `[H, W, 3]` or `[H, W, 4]` RGB(A) array as PNG with fast settings."""
    cv2 = _opencv()
    if cv2 is None:
        Image.fromarray(array).save(path, format="PNG", compress_level=PNG_LEVEL)
        return
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(array), [
        cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
        cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE])
    if not ok:
        raise SlotviewerError(f"{path}: PNG encoding failed")
    path.write_bytes(data.tobytes())


def _indexed_png(path: Path, labels: np.ndarray, colours: np.ndarray) -> None:
    """The label map as a palette PNG: one byte per pixel (fast), and every viewer shows the colours."""
    image = Image.fromarray(labels)
    image.putpalette(colours.reshape(-1).tolist())
    image.save(path, format="PNG", compress_level=PNG_LEVEL)


def _upscale(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """A map `[h, w]` (uint8, or float32 scores) or uint8 RGB/RGBA `[h, w, 3|4]` at the model's resolution →
    the input's size, bilinear (area-averaged when shrinking, so small inputs are not aliased)."""
    if array.shape[:2] == (height, width):
        return array
    cv2 = _opencv()
    if cv2 is None:
        if array.dtype == np.float32:
            return np.asarray(Image.fromarray(array, mode="F").resize((width, height), Image.BILINEAR))
        if array.ndim == 2 or array.shape[2] == 3:
            return resize_uint8(array, height, width)
        # Pillow premultiplies RGBA while resizing; colour and alpha are independent maps here
        return np.dstack([resize_uint8(array[..., :3], height, width), resize_uint8(array[..., 3], height, width)])
    shrink = height < array.shape[0] or width < array.shape[1]
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def npz_size(height: int, width: int, max_side: int = NPZ_MAX_SIDE) -> tuple[int, int]:
    """With `--attention-size input`, arrays in `attention.npz` are at the input's size, or scaled so
    the longer side is `max_side` (a 6000² input would otherwise need gigabytes)."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def attention_gif(trace: Trace) -> bytes:
    """One frame per iteration: the input tinted by each slot's attention, labelled `t = i/T`."""
    h, w = display_size(*trace.image.shape[:2])
    base = resize_uint8(trace.image, h, w)
    colours = slot_colours(trace.num_slots)
    pictures = [base] + [attention_overlay(base, attention, colours) for attention in trace.attention]
    frames = [_labelled_gif_frame(picture, f"t = {t}/{trace.iterations}") for t, picture in enumerate(pictures)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=700, loop=0)
    return buffer.getvalue()


def _labelled_gif_frame(picture: np.ndarray, label: str) -> Image.Image:
    """The picture with a white, black-shadowed label, in 256 colours of which two are pure black and
    white: GIF's own median-cut palette drops a few white text pixels among 65,000 others."""
    frame = Image.fromarray(picture)
    colours = frame.quantize(254, dither=Image.Dither.NONE).getpalette()[: 254 * 3]
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours + [0] * (254 * 3 - len(colours)) + [0, 0, 0, 255, 255, 255])
    draw = ImageDraw.Draw(frame)
    draw.text((5, 5), label, fill=(0, 0, 0))
    draw.text((4, 4), label, fill=(255, 255, 255))
    return frame.quantize(palette=palette, dither=Image.Dither.NONE)


def write_trace(trace: Trace, out_dir: str | Path, *, overwrite: bool = False, gif: bool = False,
                extra: dict[str, Any] | None = None, files: dict[str, bytes] | None = None,
                attention_size: AttentionSize = "model", label_by: str = "posterior") -> Path:
    """Write all outputs of `trace` into `out_dir` (created; replaced only with `overwrite`).

    `extra` goes into trace.json; `files` are further files (name → bytes) written in the same
    atomic step, such as the GUI's screenshot of the view. `attention_size` "model" keeps the arrays
    of `attention.npz` at the model's own resolution (small, exact); "input" scales them to the input.
    `label_by` says what `labels.png` is the argmax of (`LABELS`).
    """
    if attention_size not in ATTENTION_SIZES:
        raise SlotviewerError(f"attention size must be one of {', '.join(ATTENTION_SIZES)}, got {attention_size!r}")
    check_label_by(label_by)
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise OutputExistsError(f"{out_dir}: already exists (use --overwrite to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(out_dir)
    try:
        _write_into(trace, tmp, gif, extra or {}, attention_size, label_by)
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


def _labels(trace: Trace, label_by: str, height: int, width: int) -> np.ndarray:
    """`trace.labels` at the input's size: the argmax of its float scores, each scaled as the maps are. In
    float, so two slots whose scores differ by less than 1/255 (spare slots sharing the background) are not
    decided by rounding, which moved 0.5 % of the shapes sample's pixels to another slot than the trace's."""
    return argmax_planes(_upscale(scores, height, width) for scores in trace.label_scores(by=label_by))


def _write_into(trace: Trace, folder: Path, gif: bool, extra: dict[str, Any], attention_size: AttentionSize,
                label_by: str) -> None:
    height, width = trace.image.shape[:2]
    k = trace.num_slots
    alpha, posterior = trace.alpha(), trace.posterior()
    (folder / "masks").mkdir()
    (folder / "slots").mkdir()
    colours = slot_colours(k)
    with ThreadPoolExecutor(WRITE_THREADS) as pool:

        def write_slot(i: int) -> None:  # colour and mask scaled together, in one pass, on a worker
            rgba = _upscale(np.dstack([to_uint8(trace.rgb[i]), to_uint8(alpha[i])]), height, width)
            _png(folder / "masks" / f"slot_{i:02d}.png", np.ascontiguousarray(rgba[..., 3]))
            _png(folder / "slots" / f"slot_{i:02d}.png", rgba)

        def write_labels() -> None:
            labels = _labels(trace, label_by, height, width)
            _png(folder / "labels.png", labels)
            _indexed_png(folder / "labels_color.png", labels, colours)

        jobs = [pool.submit(write_labels), *(pool.submit(write_slot, i) for i in range(k))]
        jobs.append(pool.submit(lambda: _png(folder / "reconstruction.png",
                                             _upscale(to_uint8(trace.composite()), height, width))))
        if gif:
            jobs.append(pool.submit(lambda: (folder / "attention.gif").write_bytes(attention_gif(trace))))
        arrays, npz_shape = _npz_arrays(trace, alpha, posterior, attention_size)
        jobs.append(pool.submit(np.savez_compressed, folder / "attention.npz", **arrays))
        for job in jobs:
            job.result()  # re-raises the first failure; the caller removes the temporary folder
    record = {
        **extra,
        **trace.provenance,
        "input_size": [height, width],
        "attention_size": attention_size,
        "labels": label_by,
        "npz_size": list(npz_shape),
        "slot_colours": colours.tolist(),
        "enabled": list(trace.enabled),
        "edits": list(trace.edits),
        "timings_ms": {key: round(v, 3) for key, v in trace.timings_ms.items()},
    }
    (folder / "trace.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _npz_arrays(trace: Trace, alpha: np.ndarray, posterior: np.ndarray, attention_size: AttentionSize
                ) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """float16 maps (ample for probabilities and colours; half the bytes), float32 slots (exact, so
    they can be decoded again)."""
    half = np.float16
    rgb = trace.rgb.transpose(0, 3, 1, 2)
    if attention_size == "input":
        nh, nw = npz_size(*trace.image.shape[:2])
        attention = resize_channels(trace.attention, nh, nw)
        rgb = resize_channels(rgb, nh, nw)
        alpha = resize_channels(alpha, nh, nw)
        posterior = resize_channels(posterior, nh, nw)
    else:
        nh, nw = alpha.shape[-2:]
        attention = trace.attention
    arrays = {
        "attention": attention.astype(half),
        "slots": trace.slots.astype(np.float32),
        "rgb": rgb.transpose(0, 2, 3, 1).astype(half),
        "alpha": alpha.astype(half),
        "posterior": posterior.astype(half),
        "enabled": np.array(trace.enabled, dtype=bool),
    }
    return arrays, (nh, nw)

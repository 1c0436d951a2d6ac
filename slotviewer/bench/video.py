"""`slotviewer bench --video`: the video pipeline's numbers, printed (never asserted by tests).

- headless FPS of `slotviewer run VIDEO` (decode, model, label PNGs, masks, overlay.mp4 all written) on a
  64×64 and a 640×480 generated clip, ONNX Runtime on the CPU, carry-over with 1 and 2 iterations per frame;
- resident memory at the start and end of a long run (default 10,000 frames, generated on the fly);
- identity switches per 100 frames on moving shapes, carry-over against fresh slots per frame.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from slotviewer.bench.device import load_on
from slotviewer.data.moving_shapes import MovingShapes, identity_switches, majority_slots
from slotviewer.engine import Engine
from slotviewer.errors import SlotviewerError
from slotviewer.headless_video import VideoOptions, run_source
from slotviewer.io.recorder import VideoRecorder
from slotviewer.io.sources import Frame, FrameSource, open_source
from slotviewer.metrics import fg_ari
from slotviewer.video import CarryOver, FrameRunner


def rss_mb() -> float:
    """Resident set size now (Linux /proc; elsewhere the peak from `resource`)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ClipSource(FrameSource):
    """Moving shapes generated on the fly: a long 'file' that needs no disk (for the memory run)."""

    def __init__(self, frames: int, height: int = 64, width: int = 64, fps: float = 30.0,
                 on_frame: Any = None) -> None:
        self.clip = MovingShapes(seed=0, height=height, width=width)
        self.frames, self._fps, self.name, self.on_frame = frames, fps, f"moving shapes {height}x{width}", on_frame
        self._next = 0

    def open(self) -> None:
        self._next = 0

    def read(self) -> Frame | None:
        if self._next >= self.frames:
            return None
        i = self._next
        self._next += 1
        if self.on_frame is not None:
            self.on_frame(i)
        return Frame(self.clip.frame(i)[0], i, i / self._fps)

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        return self.frames


def _clip_file(folder: Path, frames: int, height: int, width: int) -> Path:
    path = folder / f"clip_{width}x{height}.mp4"
    with VideoRecorder(path, 30, (height, width)) as recorder:
        for image, _ in MovingShapes(seed=0, height=height, width=width).frames(frames):
            recorder.write(image)
    return path


def headless_fps(engine: Engine, video: Path, out: Path, iters_per_frame: int) -> dict[str, Any]:
    options = VideoOptions(carry=CarryOver(True, iters_per_frame), progress=False, overwrite=True)
    with open_source(video) as source:
        start = time.perf_counter()
        folder, error = run_source(engine, source, out, options)
        elapsed = time.perf_counter() - start
    if error is not None or folder is None:
        raise RuntimeError(str(error))
    record = json.loads((folder / "trace.json").read_text())
    return {"frames": record["frames"], "fps": record["frames"] / elapsed,
            "ms_per_frame": record["timings"]["ms_per_frame"]}


def memory_run(engine: Engine, frames: int, out: Path) -> dict[str, Any]:
    samples: dict[int, float] = {}
    marks = {100, frames // 4, frames // 2, 3 * frames // 4, frames - 1}

    def sample(i: int) -> None:
        if i in marks:
            samples[i] = rss_mb()

    source = ClipSource(frames, on_frame=sample)
    options = VideoOptions(carry=CarryOver(True, 1), progress=False, overwrite=True)
    start = time.perf_counter()
    run_source(engine, source, out, options)
    elapsed = time.perf_counter() - start
    return {"frames": frames, "rss_mb_by_frame": {str(k): round(v, 1) for k, v in sorted(samples.items())},
            "fps": frames / elapsed}


def identity(engine: Engine, frames: int = 100, seeds: int = 6, slots: int | None = None) -> dict[str, Any]:
    """Identity switches per 100 frames (summed over objects), how often the background changes its slot
    per 100 frames (not an object, but the colour change a viewer sees first), the share of pixels whose
    label changes from one frame to the next (flicker), and FG-ARI over the frames, mean over `seeds` clips,
    for each way of chaining frames: carry-over as shipped, without its mask prior, without sticky labels,
    with labels by alpha instead of the posterior, with two iterations, and fresh slots per frame."""
    out: dict[str, Any] = {}
    shipped = CarryOver(True, 1)
    for label, carry, by in (("carry_1", shipped, "posterior"),
                             ("carry_1_no_prior", CarryOver(True, 1, mask_prior=0.0), "posterior"),
                             ("carry_1_not_sticky", CarryOver(True, 1, sticky_labels=False), "posterior"),
                             ("carry_1_alpha_labels", shipped, "alpha"),
                             ("carry_2", CarryOver(True, 2), "posterior"), ("fresh", CarryOver(False), "posterior")):
        per_clip, ari, background, flicker = [], [], [], []
        for seed in range(seeds):
            clip = MovingShapes(seed=seed)
            runner = FrameRunner(engine, carry, slots=slots, seed=0, label_by=by)
            labels, masks = [], []
            for image, mask in clip.frames(frames):
                labels.append(runner.run(image).labels(by=by))
                masks.append(mask)
            per_clip.append(identity_switches(labels, masks) * 100 / (frames - 1))
            ari.append(float(np.nanmean(fg_ari(np.stack(masks), np.stack(labels)))))
            slot = [majority_slots(lab, mask).get(0) for lab, mask in zip(labels, masks, strict=True)]
            background.append(sum(a != b for a, b in zip(slot, slot[1:], strict=False)) * 100 / (frames - 1))
            flicker.append(float(np.mean([np.mean(a != b) for a, b in zip(labels, labels[1:], strict=False)])))
        out[label] = {"mean": float(np.mean(per_clip)), "per_clip": [round(v, 1) for v in per_clip],
                      "fg_ari": float(np.mean(ari)), "background_changes": float(np.mean(background)),
                      "relabelled": float(np.mean(flicker))}
    return out


def entering(engine: Engine, seeds: int = 12, enter_at: int = 30, frames: int = 60) -> dict[str, Any]:
    """Does carry-over take in an object that enters the scene? Clips whose last object appears at
    `enter_at`; from 10 frames after that on: how often it has a slot of its own (neither the background's
    nor another object's) and the FG-ARI, with and without the mask prior (which favours the slots that
    already own a place, the background's included)."""
    out: dict[str, Any] = {"enter_at": enter_at, "from_frame": enter_at + 10}
    for label, carry in (("carry_1", CarryOver(True, 1)), ("carry_1_no_prior", CarryOver(True, 1, mask_prior=0.0))):
        own, ari = [], []
        for seed in range(seeds):
            clip = MovingShapes(seed=seed, enter_at=enter_at)
            new = len(clip.objects)
            runner = FrameRunner(engine, carry, seed=0)
            for t, (image, mask) in enumerate(clip.frames(frames)):
                labels = runner.run(image).labels()
                if t < enter_at + 10:
                    continue
                ari.append(float(fg_ari(mask[None], labels[None])[0]))
                majority = majority_slots(labels, mask)
                if new in majority:
                    own.append(all(majority[new] != slot for obj, slot in majority.items() if obj != new))
        out[label] = {"own_slot": float(np.mean(own)) if own else None, "fg_ari": float(np.nanmean(ari))}
    return out


def video_engine(model: str, device: str) -> Engine:
    """ONNX Runtime on `device`, or PyTorch where this onnxruntime cannot use it (a GPU box with a CUDA
    torch and the CPU-only onnxruntime): the numbers then say which one ran."""
    if device == "cpu":
        return Engine.load(model, "onnx", "cpu")
    engines, errors = load_on(model, device)
    if not engines:
        raise SlotviewerError(f"no backend runs on {device}: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return engines.get("onnx") or engines["torch"]


def bench_video(model: str = "shapes", long_frames: int = 10_000, seeds: int = 6,
                device: str = "cpu") -> dict[str, Any]:
    engine = video_engine(model, device)
    result: dict[str, Any] = {"model": model, "device": engine.description}
    with tempfile.TemporaryDirectory(prefix="slotviewer-bench-video-") as tmp:
        folder = Path(tmp)
        small, large = _clip_file(folder, 600, 64, 64), _clip_file(folder, 300, 480, 640)
        headless_fps(engine, small, folder / "warm", 1)
        for ipf in (1, 2):
            result[f"fps_64x64_iters{ipf}"] = headless_fps(engine, small, folder / "o64", ipf)
            result[f"fps_640x480_iters{ipf}"] = headless_fps(engine, large, folder / "o640", ipf)
        if long_frames:
            result["memory"] = memory_run(engine, long_frames, folder / "long")
    result["identity_per_100_frames"] = {f"K={k or engine.config.num_slots}": identity(engine, seeds=seeds, slots=k)
                                         for k in (None, 4)}
    result["entering_object"] = entering(engine)
    result["gui_live"] = gui_live(model)
    return result


def gui_live(model: str) -> dict[str, Any] | None:
    """The live view in the app with a 30 FPS, 640×480 fake camera (display included); None without Qt."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from slotviewer.gui.qt_live_bench import live_gui_rates
    except ImportError:
        return None
    return live_gui_rates(model)


def print_video(r: dict[str, Any]) -> None:
    print(f"video pipeline · {r['device']} · headless, label PNGs + masks + overlay.mp4 written")
    for key, value in r.items():
        if key.startswith("fps_"):
            stages = ", ".join(f"{k} {v:.1f}" for k, v in value["ms_per_frame"].items())
            print(f"  {key:<22} {value['fps']:7.1f} FPS over {value['frames']} frames (ms/frame: {stages})")
    if "memory" in r:
        m = r["memory"]
        rss = ", ".join(f"frame {k}: {v} MB" for k, v in m["rss_mb_by_frame"].items())
        print(f"  memory over {m['frames']} frames ({m['fps']:.1f} FPS): {rss}")
    for k, ident in r["identity_per_100_frames"].items():
        text = ", ".join(f"{name} {v['mean']:.1f} {v['per_clip']} (FG-ARI {v['fg_ari']:.3f}, background "
                         f"changes slot {v['background_changes']:.1f}, {v['relabelled']:.1%} of pixels relabelled "
                         "per frame)" for name, v in ident.items())
        print(f"  identity switches / 100 frames, {k}: {text}")
    e = r["entering_object"]
    for name in ("carry_1", "carry_1_no_prior"):
        own = "never seen" if e[name]["own_slot"] is None else f"{e[name]['own_slot']:.0%} of frames"
        print(f"  an object entering at frame {e['enter_at']}, {name}: a slot of its own in {own} from frame "
              f"{e['from_frame']} on (FG-ARI {e[name]['fg_ari']:.3f})")
    g = r.get("gui_live")
    if g:
        print(f"  GUI live view, {g['source']}: capture {g['capture_fps']:.1f}, model {g['model_fps']:.1f}, "
              f"display {g['display_fps']:.1f} FPS over {g['seconds']} s")

"""Make resources/iterations.gif for the README: the shipped shapes model on the sample scene, one frame per
Slot Attention iteration: the input, each slot's attention in its colour, and what the slots of that
iteration decode to, and the segmentation their masks give.
Run: .venv/bin/python -m slotviewer.iterations_gif [OUT.gif] [--frames DIR]"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

from slotviewer.engine import Engine
from slotviewer.engine.trace import composite
from slotviewer.io.images import read_image
from slotviewer.io.render import attention_overlay, resize_uint8, slot_colours, to_uint8
from slotviewer.paths import RESOURCES

SIDE, GAP, TOP = 192, 8, 26


def frames(model: str = "shapes", seed: int = 3) -> list[Image.Image]:
    engine = Engine.load(model, "onnx", "cpu")
    image = read_image(RESOURCES / "samples" / f"{model}.png")
    trace = engine.run(image, seed=seed)
    decoded = [*engine.decode_iterations(trace), (trace.rgb, trace.alpha_logits)]
    colours = slot_colours(trace.num_slots)
    base = resize_uint8(trace.image, SIDE, SIDE)
    out = []
    for t in range(trace.iterations + 1):
        overlay = base if t == 0 else attention_overlay(base, trace.attention[t - 1], colours)
        recon = resize_uint8(to_uint8(composite(*decoded[t])), SIDE, SIDE)
        segments = resize_uint8(colours[decoded[t][1].argmax(0)], SIDE, SIDE, nearest=True)
        canvas = Image.new("RGB", (4 * SIDE + 3 * GAP, SIDE + TOP), (24, 26, 32))
        for i, panel in enumerate((base, overlay, recon, segments)):
            canvas.paste(Image.fromarray(panel), (i * (SIDE + GAP), TOP))
        draw = ImageDraw.Draw(canvas)
        labels = ("input", f"attention, t = {t}/{trace.iterations}", "slots decoded", "segments (decoded alpha)")
        for i, label in enumerate(labels):
            draw.text((i * (SIDE + GAP) + 6, 7), label, fill=(235, 235, 235))
        out.append(canvas)
    return out


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv and not argv[0].startswith("--") else RESOURCES / "iterations.gif"
    images = frames()
    durations = [900] + [600] * (len(images) - 2) + [1800]
    images[0].save(target, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    if "--frames" in argv:
        folder = Path(argv[argv.index("--frames") + 1])
        folder.mkdir(parents=True, exist_ok=True)
        for t, image in enumerate(images):
            image.save(folder / f"frame_{t:02d}.png")
    print(f"wrote {target} ({len(images)} frames, {target.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

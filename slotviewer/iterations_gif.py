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
from slotviewer.io.atomic import write_with
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
    import argparse

    parser = argparse.ArgumentParser(prog="python -m slotviewer.iterations_gif", description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=RESOURCES / "iterations.gif",
                        help="the GIF to write (default: the README's resources/iterations.gif)")
    parser.add_argument("--frames", type=Path, metavar="DIR", help="also write each frame as a PNG into DIR")
    args = parser.parse_args(argv)  # --help and unknown options exit here, before anything is written
    images = frames()
    durations = [900] + [600] * (len(images) - 2) + [1800]
    write_with(args.out, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                    duration=durations, loop=0, optimize=True))
    if args.frames is not None:
        args.frames.mkdir(parents=True, exist_ok=True)
        for t, image in enumerate(images):
            image.save(args.frames / f"frame_{t:02d}.png")
    print(f"wrote {args.out} ({len(images)} frames, {args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

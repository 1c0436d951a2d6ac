"""Tetrominoes (the DeepMind multi-object spec): 35×35, black background, three pieces.

Each piece is one of the 19 fixed orientations of the 7 tetrominoes, built from 5×5-pixel cells,
placed at an integer pixel offset fully inside the image, never overlapping another piece (touching
is allowed), and coloured with one of six saturated colours (two pieces may share one).
"""

from __future__ import annotations

import numpy as np

SIZE = 35
CELL = 5
NUM_PIECES = 3
COLOURS = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255]], dtype=np.uint8
)


def _orientations() -> list[np.ndarray]:
    """The 19 fixed tetromino orientations as boolean cell grids (rotations, duplicates removed)."""
    bases = {
        "I": [[1, 1, 1, 1]],
        "O": [[1, 1], [1, 1]],
        "T": [[1, 1, 1], [0, 1, 0]],
        "S": [[0, 1, 1], [1, 1, 0]],
        "Z": [[1, 1, 0], [0, 1, 1]],
        "L": [[1, 0], [1, 0], [1, 1]],
        "J": [[0, 1], [0, 1], [1, 1]],
    }
    shapes: list[np.ndarray] = []
    for cells in bases.values():
        seen: set[bytes] = set()
        grid = np.array(cells, dtype=bool)
        for r in range(4):
            rotated = np.rot90(grid, r)
            key = rotated.shape[0].to_bytes(1, "little") + np.packbits(rotated).tobytes()
            if key not in seen:
                seen.add(key)
                shapes.append(rotated)
    return shapes


PIECES = [np.kron(cells, np.ones((CELL, CELL), dtype=bool)) for cells in _orientations()]
assert len(PIECES) == 19


def sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (image `[35, 35, 3]` uint8, mask `[35, 35]` uint8 with 0 = background, 1..3 = pieces)."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    placed = 0
    while placed < NUM_PIECES:
        piece = PIECES[rng.integers(len(PIECES))]
        h, w = piece.shape
        y, x = rng.integers(0, SIZE - h + 1), rng.integers(0, SIZE - w + 1)
        window = mask[y : y + h, x : x + w]
        if np.any(window[piece]):
            continue  # overlaps an earlier piece: draw again
        placed += 1
        window[piece] = placed
        image[y : y + h, x : x + w][piece] = COLOURS[rng.integers(len(COLOURS))]
    return image, mask

"""Is an image like the ones the model was trained on? Its reconstruction error against the card's typical one.

A model trained on flat synthetic sprites reconstructs a photo as blurry discs and its slots follow
colour and position instead of objects; nothing in the masks says so. The reconstruction error does:
`typical_mse` in the model card is the median error on the model's own data (see `typical_mse`),
and an image whose error is far above it is flagged, in the GUI and in `trace.json`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

UNFAMILIAR_RATIO = 5.0  # times the typical error: unlike the training data (own data: p90 2-5×, photos 10-260×)
TYPICAL_SCENES, TYPICAL_SEED = 256, 2_000_003  # what a card's typical_mse is measured on (see `typical_mse`)
NOTICE = ("this image is unlike what the model was trained on — slots will follow colour and position "
          "rather than objects")


def reconstruction_mse(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared error between the model input `[3, R, R]` and the reconstruction `[R, R, 3]`, both in [0, 1]."""
    return float(np.mean((np.asarray(reconstruction).transpose(2, 0, 1) - x) ** 2))


def familiarity(mse: float, typical_mse: float) -> dict:
    """The record written to `trace.json`; without a typical error on the card nothing is flagged."""
    ratio = mse / typical_mse if typical_mse > 0 else None
    return {"reconstruction_mse": round(mse, 6), "typical_mse": round(typical_mse, 6) if typical_mse > 0 else None,
            "ratio": None if ratio is None else round(ratio, 3),
            "unfamiliar": bool(ratio is not None and ratio > UNFAMILIAR_RATIO)}


def typical_mse(errors: Iterable[float]) -> float:
    """The card's value: the median error over scenes of the model's own data set (robust to a few hard ones).
    The shipped cards: `generate(<data set>, TYPICAL_SCENES, seed=TYPICAL_SEED)` at the model's T and draws."""
    return float(np.median(np.fromiter(errors, float)))

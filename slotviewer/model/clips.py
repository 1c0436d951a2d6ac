"""The autoencoder unrolled over a short clip with carry-over, for training on video (SAVi, Kipf et al. 2022).

A model trained on still images only ever learns to group one picture from freshly drawn slots. Run on
video with carry-over (`slotviewer.video.FrameRunner`), frame t+1 starts from frame t's final slots and
gets only one or two iterations, a situation training never showed it: an object split between two slots
drifts from one to the other, and its label flips. Training through the same unrolling, with gradients
flowing back through the carried slots, rewards slots that keep their object from frame to frame.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from slotviewer.model.autoencoder import SlotAutoencoder


class ClipAutoencoder(nn.Module):
    """Wraps a `SlotAutoencoder` (its parameters, not a copy); `forward` takes clips `[B, L, 3, H, W]`.

    Frame 0 runs the model's T iterations from drawn slots; frame t > 0 runs `iters_per_frame`
    iterations from frame t−1's final slots, exactly as the live view does. All frames are encoded and
    decoded in one batch each; only Slot Attention runs frame by frame.
    """

    def __init__(self, model: SlotAutoencoder, iters_per_frame: int = 1) -> None:
        super().__init__()
        if iters_per_frame < 1:
            raise ValueError(f"training needs at least one iteration per carried frame, got {iters_per_frame}")
        self.model, self.iters_per_frame = model, iters_per_frame

    def forward(self, clips: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(reconstructions `[B, L, 3, H, W]`, alpha logits `[B, L, K, H, W]`)."""
        b, length = clips.shape[:2]
        features, keys = self.model.encoder(clips.flatten(0, 1))
        shared_keys = keys is features
        features = features.unflatten(0, (b, length))
        keys = features if shared_keys else keys.unflatten(0, (b, length))
        slots, finals = None, []
        for t in range(length):
            slots, _, _ = self.model.slot_attention(
                features[:, t], slots=slots, iters=None if t == 0 else self.iters_per_frame, generator=generator,
                keys=None if shared_keys else keys[:, t])
            finals.append(slots)
        reconstruction, _, alpha_logits = self.model.decode(torch.stack(finals, 1).flatten(0, 1))
        return reconstruction.unflatten(0, (b, length)), alpha_logits.unflatten(0, (b, length))

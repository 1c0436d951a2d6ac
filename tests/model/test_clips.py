"""The clip unrolling used for training with carry-over runs frames exactly as the live view does."""

import dataclasses

import pytest
import torch

from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.clips import ClipAutoencoder
from tests.model.test_autoencoder import TINY


@pytest.mark.parametrize("key_position_scale", [1.0, 0.5])
def test_frames_after_the_first_continue_from_the_previous_slots(key_position_scale: float) -> None:
    torch.manual_seed(0)
    model = SlotAutoencoder(dataclasses.replace(TINY, iters=3, key_position_scale=key_position_scale)).eval()
    clips = torch.rand(2, 3, 3, 16, 16)
    recon, alpha_logits = ClipAutoencoder(model, iters_per_frame=2)(clips, torch.Generator().manual_seed(7))
    assert recon.shape == (2, 3, 3, 16, 16) and alpha_logits.shape == (2, 3, TINY.num_slots, 16, 16)

    # by hand: frame 0 is the model's own forward (T iterations, same draw), each later frame 2 iterations
    # from the one before's final slots
    first = model(clips[:, 0], generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(recon[:, 0], first.reconstruction)
    slots = first.slots
    for t in (1, 2):
        features, keys = model.encoder(clips[:, t])
        slots, attention, _ = model.slot_attention(features, slots=slots, iters=2, keys=keys)
        assert attention.shape[0] == 2
        expected, _, expected_alpha = model.decode(slots)
        torch.testing.assert_close(recon[:, t], expected)
        torch.testing.assert_close(alpha_logits[:, t], expected_alpha)


def test_the_loss_of_a_later_frame_reaches_the_first_frames_slots() -> None:
    """Gradients flow back through the carried slots (back-propagation through time), so training
    shapes how frame 0's slots serve the next frames."""
    torch.manual_seed(0)
    model = SlotAutoencoder(TINY)
    recon, _ = ClipAutoencoder(model)(torch.rand(2, 3, 3, 16, 16))
    recon[:, 2].pow(2).mean().backward()
    assert model.slot_attention.slots_mu.grad is not None
    assert model.slot_attention.slots_mu.grad.abs().sum() > 0


def test_carry_over_without_iterations_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one iteration"):
        ClipAutoencoder(SlotAutoencoder(TINY), iters_per_frame=0)

import dataclasses

import pytest
import torch

from slotviewer.model.autoencoder import SlotAutoencoder, best_of_draws, draw_noise
from slotviewer.model.config import PRESETS, ModelConfig
from slotviewer.model.networks import mse

TINY = ModelConfig(resolution=16, num_slots=3, slot_dim=16, mlp_hidden=32, encoder_channels=(8, 8, 8),
                   decoder_channels=8, decoder_final_channels=8, decoder_grid=4, decoder_upsample=2, kernel=3)


def test_output_shapes_for_presets() -> None:
    for cfg in PRESETS.values():
        model = SlotAutoencoder(cfg).eval()
        r = cfg.resolution
        out = model(torch.rand(2, 3, r, r))
        assert out.reconstruction.shape == (2, 3, r, r)
        assert out.rgb.shape == (2, cfg.num_slots, 3, r, r)
        assert out.alpha_logits.shape == (2, cfg.num_slots, r, r)
        assert out.attention.shape == (cfg.iters, 2, cfg.num_slots, cfg.feature_size**2)
        torch.testing.assert_close(out.alpha.sum(dim=1), torch.ones(2, r, r))


def test_reconstruction_is_the_alpha_composite() -> None:
    model = SlotAutoencoder(TINY).eval()
    out = model(torch.rand(1, 3, 16, 16))
    expected = (out.alpha.unsqueeze(2) * out.rgb).sum(dim=1)
    torch.testing.assert_close(out.reconstruction, expected)


def test_the_batch_posterior_is_the_engines_posterior_image_by_image() -> None:
    """`eval` scores the posterior labels in torch; the product computes them in numpy: they must agree."""
    import numpy as np

    from slotviewer.engine.trace import COLOUR_DEAD_ZONE, COLOUR_TOLERANCE, posterior
    from slotviewer.model.autoencoder import AutoencoderOutput

    torch.manual_seed(0)
    rgb, alpha_logits, x = torch.rand(2, 3, 3, 16, 16), torch.randn(2, 3, 16, 16) * 2, torch.rand(2, 3, 16, 16)
    reconstruction = (alpha_logits.softmax(dim=1).unsqueeze(2) * rgb).sum(dim=1)
    out = AutoencoderOutput(reconstruction, rgb, alpha_logits, *(torch.zeros(1),) * 3)
    logits = out.posterior_logits(x, COLOUR_TOLERANCE, COLOUR_DEAD_ZONE)
    for i in range(2):
        expected = posterior(rgb[i].permute(0, 2, 3, 1).numpy(), alpha_logits[i].numpy(), x[i].permute(1, 2, 0).numpy())
        np.testing.assert_allclose(logits[i].softmax(dim=0).numpy(), expected, atol=1e-5)
    assert not torch.equal(logits.argmax(dim=1), alpha_logits.argmax(dim=1))  # the colours moved some pixels


def test_gradients_reach_every_parameter() -> None:
    for init in ("gaussian", "learned"):
        model = SlotAutoencoder(dataclasses.replace(TINY, slot_init=init, implicit=init == "learned"))
        x = torch.rand(2, 3, 16, 16)
        mse(model(x).reconstruction, x).backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{init}: {name}"


def test_loss_drops_on_a_few_steps() -> None:
    torch.manual_seed(0)
    model = SlotAutoencoder(TINY)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.rand(4, 3, 16, 16)
    losses = []
    for _ in range(30):
        loss = mse(model(x).reconstruction, x)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_output_blocks_learn_after_their_zero_start() -> None:
    """A zero-initialised block passes no gradient to its first conv until the second has moved: one step
    later every parameter trains."""
    model = SlotAutoencoder(dataclasses.replace(TINY, decoder_output_blocks=1))
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(2, 3, 16, 16)
    for _ in range(2):
        optim.zero_grad()
        mse(model(x).reconstruction, x).backward()
        optim.step()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_key_position_scale_takes_place_out_of_the_keys_only() -> None:
    """At scale 0 a flat image's interior key features are all equal (no position left), while the
    values still carry where each position is; at scale 1 keys and values are one tensor."""
    flat = torch.full((1, 3, 16, 16), 0.4)
    features, keys = SlotAutoencoder(dataclasses.replace(TINY, key_position_scale=0.0)).encoder(flat)
    side = TINY.feature_size
    interior = torch.zeros(side, side, dtype=torch.bool)
    interior[2:-2, 2:-2] = True  # away from the convolutions' zero padding
    inner_keys, inner_values = keys[0][interior.flatten()], features[0][interior.flatten()]
    torch.testing.assert_close(inner_keys, inner_keys[:1].expand_as(inner_keys))
    assert (inner_values - inner_values[:1]).abs().max() > 1e-3
    features, keys = SlotAutoencoder(TINY).encoder(flat)
    assert keys is features


def test_key_position_scale_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="key_position_scale"):
        dataclasses.replace(TINY, key_position_scale=1.5)


@pytest.mark.parametrize("preset", ["tetrominoes", "shapes"])
def test_decoder_first_layer_equals_the_convolution_of_the_broadcast_grid(preset: str) -> None:
    """The shortcut must give what `conv(broadcast(slot) + pos)` gives, borders (zero padding) included,
    and the same gradients."""
    from slotviewer.model.config import PRESETS
    from slotviewer.model.networks import Decoder

    torch.manual_seed(0)
    cfg = PRESETS[preset]
    decoder = Decoder(cfg)
    slots = torch.randn(5, cfg.slot_dim, requires_grad=True)
    grid = slots.reshape(5, -1, 1, 1).expand(-1, -1, cfg.decoder_grid, cfg.decoder_grid)
    reference = decoder.cnn[0](decoder.pos(grid))
    (grad_ref,) = torch.autograd.grad(reference.square().sum(), slots)
    fast = decoder.first_layer(slots)
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), slots)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_fast, grad_ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("init", ["gaussian", "learned"])
def test_best_of_draws_keeps_each_images_best_reconstruction(init: str) -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, slot_init=init, query_noise=0.7)
    model = SlotAutoencoder(cfg).eval()
    x = torch.rand(3, 3, 16, 16)
    noise = draw_noise(3, 5, 3, 16, init == "learned", torch.Generator().manual_seed(2))
    with torch.no_grad():
        candidates = [model(x, noise=noise[:, d]) for d in range(5)]
    errors = torch.stack([(c.reconstruction - x).pow(2).mean(dim=(1, 2, 3)) for c in candidates], dim=1)
    best = best_of_draws(model, x, 5, generator=torch.Generator().manual_seed(2))
    assert len(set(errors.argmin(dim=1).tolist())) > 1  # the images do not all pick the same draw
    for i, d in enumerate(errors.argmin(dim=1).tolist()):
        torch.testing.assert_close(best.alpha_logits[i], candidates[d].alpha_logits[i])
        torch.testing.assert_close(best.attention[:, i], candidates[d].attention[:, i])
        torch.testing.assert_close(best.slot_history[:, i], candidates[d].slot_history[:, i])
        torch.testing.assert_close(best.reconstruction[i], candidates[d].reconstruction[i])


def test_learned_queries_are_always_the_first_draw() -> None:
    noise = draw_noise(2, 4, 3, 8, learned=True)
    assert torch.equal(noise[:, 0], torch.zeros(2, 3, 8)) and noise[:, 1:].abs().sum() > 0
    assert draw_noise(2, 4, 3, 8, learned=False)[:, 0].abs().sum() > 0


def test_draw_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="draws must be a whole number 1..64"):
        dataclasses.replace(TINY, draws=0)
    with pytest.raises(ValueError, match="query_noise must be ≥ 0"):
        dataclasses.replace(TINY, query_noise=-1.0)
    cfg = dataclasses.replace(TINY, draws=8, query_noise=0.5)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(("field", "value"), [("resolution", -64), ("resolution", 64.5), ("resolution", 0),
                                              ("resolution", True), ("num_slots", 0), ("num_slots", 100),
                                              ("iters", 1000), ("slot_dim", "64"), ("encoder_channels", [32, 0]),
                                              ("key_position_scale", "half"), ("implicit", "yes")])
def test_a_config_with_a_value_out_of_range_or_of_the_wrong_kind_is_refused_naming_the_field(field: str,
                                                                                          value: object) -> None:
    """Hand-edited JSON: refused when the model loads, not on each input or inside torch."""
    data = TINY.to_dict() | {field: value}
    with pytest.raises(ValueError, match=field):
        ModelConfig.from_dict(data)


def test_the_first_draw_is_the_single_draw_so_more_draws_never_do_worse() -> None:
    torch.manual_seed(1)
    model = SlotAutoencoder(TINY).eval()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        one = model(x, generator=torch.Generator().manual_seed(5))
    single = best_of_draws(model, x, 1, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(single.reconstruction, one.reconstruction, rtol=0, atol=0)
    many = best_of_draws(model, x, 6, generator=torch.Generator().manual_seed(5))

    def errors(out) -> torch.Tensor:  # noqa: ANN001
        return (out.reconstruction - x).pow(2).mean(dim=(1, 2, 3))

    assert (errors(many) <= errors(one)).all() and (errors(many) < errors(one)).any()


@pytest.mark.parametrize(("size_in", "size_out"), [(32, 64), (16, 64), (8, 64), (9, 35), (17, 35)])
def test_bilinear_matrix_upsamples_as_interpolate_does(size_in: int, size_out: int) -> None:
    """`U @ x @ Uᵀ` replaces `F.interpolate(bilinear, align_corners=False)` in the decoder: same values
    (borders included) and the same gradients."""
    from slotviewer.model.networks import bilinear_matrix

    torch.manual_seed(0)
    x = torch.randn(3, 4, size_in, size_in, requires_grad=True)
    reference = torch.nn.functional.interpolate(x, size=(size_out, size_out), mode="bilinear", align_corners=False)
    (grad_ref,) = torch.autograd.grad(reference.square().sum(), x)
    up = bilinear_matrix(size_in, size_out)
    fast = up @ x @ up.T
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), x)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_fast, grad_ref, atol=1e-4, rtol=1e-4)


def test_the_decoders_upsampling_matrix_is_derived_not_saved() -> None:
    from slotviewer.model.networks import Decoder

    decoder = Decoder(PRESETS["shapes"])  # 16×16 grid, one transposed convolution: 32 → 64
    assert decoder.upsample.shape == (64, 32)
    assert "upsample" not in decoder.state_dict()

import pytest
import torch

from slotviewer.bench.slot_attention import copy_weights_from_reference, load_reference
from slotviewer.model.slot_attention import SlotAttention


@pytest.fixture(params=["gaussian", "learned"])
def module(request: pytest.FixtureRequest) -> SlotAttention:
    torch.manual_seed(0)
    return SlotAttention(num_slots=5, dim=16, iters=3, hidden_dim=32, init=request.param,
                         implicit=request.param == "learned")


def test_shapes(module: SlotAttention) -> None:
    slots, attention, history = module(torch.randn(2, 30, 16))
    assert slots.shape == (2, 5, 16)
    assert attention.shape == (3, 2, 5, 30)
    assert history.shape == (4, 2, 5, 16)
    assert torch.equal(history[-1], slots)


def test_attention_is_a_distribution_over_slots(module: SlotAttention) -> None:
    _, attention, _ = module(torch.randn(2, 30, 16))
    torch.testing.assert_close(attention.sum(dim=2), torch.ones(3, 2, 30))
    assert (attention >= 0).all()


def test_iterations_and_slot_count_chosen_at_inference() -> None:
    module = SlotAttention(num_slots=4, dim=8, iters=3)
    slots, attention, history = module(torch.randn(1, 10, 8), num_slots=7, iters=5)
    assert slots.shape == (1, 7, 8) and attention.shape == (5, 1, 7, 10) and history.shape == (6, 1, 7, 8)


def test_learned_queries_refuse_another_slot_count() -> None:
    module = SlotAttention(num_slots=4, dim=8, init="learned")
    with pytest.raises(ValueError, match="learned 4 slot queries"):
        module(torch.randn(1, 10, 8), num_slots=6)


def test_generator_and_noise_make_the_draw_reproducible() -> None:
    module = SlotAttention(num_slots=3, dim=8).eval()
    x = torch.randn(1, 12, 8)
    a = module(x, generator=torch.Generator().manual_seed(3))[0]
    b = module(x, generator=torch.Generator().manual_seed(3))[0]
    c = module(x, generator=torch.Generator().manual_seed(4))[0]
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    noise = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(module(x, noise=noise)[0], a)


def test_permuting_initial_slots_permutes_outputs() -> None:
    torch.manual_seed(1)
    module = SlotAttention(num_slots=4, dim=8).eval()
    x = torch.randn(2, 20, 8)
    start = torch.randn(2, 4, 8)
    perm = torch.tensor([2, 0, 3, 1])
    slots, attention, _ = module(x, slots=start)
    slots_p, attention_p, _ = module(x, slots=start[:, perm])
    torch.testing.assert_close(slots_p, slots[:, perm])
    torch.testing.assert_close(attention_p, attention[:, :, perm])


def test_gradients_reach_every_parameter(module: SlotAttention) -> None:
    module.train()
    slots, _, _ = module(torch.randn(2, 30, 16))
    slots.pow(2).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_implicit_training_sends_gradient_only_through_last_iteration() -> None:
    torch.manual_seed(0)
    module = SlotAttention(num_slots=3, dim=8, iters=3, init="learned", implicit=True).train()
    step, tracked = module.step, []

    def recording_step(slots: torch.Tensor, x: torch.Tensor, xk: torch.Tensor | None,
                       bias: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        new_slots, attn = step(slots, x, xk, bias)
        tracked.append(attn.requires_grad)
        return new_slots, attn

    module.step = recording_step
    module(torch.randn(1, 10, 8))
    assert tracked == [False, False, True]


def test_matches_lucidrains_reference() -> None:
    """Same weights and noise give the same slots as lucidrains' plain implementation."""
    reference_module = load_reference()
    assert reference_module is not None, "the dev extra installs slot-attention"
    torch.manual_seed(0)
    reference = reference_module.SlotAttention(num_slots=5, dim=32, iters=3).eval()
    ours = SlotAttention(5, 32, 3).eval()
    copy_weights_from_reference(reference, ours)
    x = torch.randn(2, 50, 32)
    torch.manual_seed(7)
    expected = reference(x)
    torch.manual_seed(7)
    got = ours(x, noise=torch.randn(2, 5, 32))[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_separate_keys_steer_the_attention_only() -> None:
    """`keys=` changes who wins each position; passing the inputs again as keys changes nothing."""
    module = SlotAttention(num_slots=3, dim=8, iters=2).eval()
    x, other = torch.randn(2, 10, 8), torch.randn(2, 10, 8)
    noise = torch.randn(2, 3, 8)
    plain = module(x, noise=noise)
    same = module(x, noise=noise, keys=x.clone())
    torch.testing.assert_close(plain[1], same[1])
    steered = module(x, noise=noise, keys=other)
    assert (steered[1] - plain[1]).abs().max() > 1e-3


def test_learned_queries_take_noise_only_when_told_how_much() -> None:
    x, noise = torch.randn(2, 10, 8), torch.randn(2, 4, 8)
    plain = SlotAttention(num_slots=4, dim=8, init="learned")
    assert torch.equal(plain.initial_slots(2, noise=noise), plain.slots_init.expand(2, -1, -1))
    jittered = SlotAttention(num_slots=4, dim=8, init="learned", query_noise=0.5)
    jittered.load_state_dict(plain.state_dict())
    torch.testing.assert_close(jittered.initial_slots(2, noise=noise), plain.slots_init + 0.5 * noise)
    zero = torch.zeros(2, 4, 8)
    torch.testing.assert_close(jittered.initial_slots(2, noise=zero), plain.slots_init.expand(2, -1, -1))
    torch.testing.assert_close(jittered(x)[0], plain(x)[0])  # no noise given: the queries themselves


def test_an_attention_bias_multiplies_the_attention_before_the_slot_softmax() -> None:
    """softmax(logits + log p) = normalise(softmax(logits) · p): the bias is a prior on who owns each input."""
    module = SlotAttention(num_slots=3, dim=8, iters=1).eval()
    x, noise = torch.randn(2, 10, 8), torch.randn(2, 3, 8)
    plain = module(x, noise=noise)
    zero = module(x, noise=noise, bias=torch.zeros(2, 3, 10))
    torch.testing.assert_close(zero[1], plain[1])
    torch.testing.assert_close(zero[0], plain[0])
    prior = torch.rand(2, 3, 10) + 0.05
    biased = module(x, noise=noise, bias=prior.log())
    expected = plain[1][0] * prior
    torch.testing.assert_close(biased[1][0], expected / expected.sum(dim=1, keepdim=True))
    assert (biased[0] - plain[0]).abs().max() > 1e-4  # the slots are updated from the biased attention


def test_a_strong_bias_decides_ownership_in_every_iteration() -> None:
    module = SlotAttention(num_slots=3, dim=8, iters=3).eval()
    owner = torch.randint(0, 3, (1, 12))
    bias = torch.full((1, 3, 12), -50.0).scatter(1, owner[:, None], 0.0)
    _, attention, _ = module(torch.randn(1, 12, 8), noise=torch.randn(1, 3, 8), bias=bias)
    assert torch.equal(attention.argmax(dim=2), owner.expand(3, 12)[:, None])

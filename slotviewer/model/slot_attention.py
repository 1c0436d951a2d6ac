"""Slot Attention (Locatello et al., 2020), with the paper's Gaussian or learned (BO-QSA) initial slots."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SlotAttention(nn.Module):
    """Iterative soft clustering of `N` input vectors into `K` slots.

    Each iteration: slots query the inputs, a softmax over the **slot** axis makes slots compete for
    every input, each slot takes the attention-weighted mean of the inputs, and a GRU + residual MLP
    update the slot. The forward returns the final slots together with every iteration's attention
    and slots, because the viewer animates them.

    Speed: keys and values are linear in the (normed) inputs, so instead of projecting all N inputs
    (`k = x W_k^T + b_k`, `v = x W_v^T + b_v`, O(N·D²)) we move the projections to the K slots:
    `q·k = x·(q W_k) + q·b_k` and `mean(v) = mean(x) W_v^T + b_v`. The result is identical; the cost
    per iteration drops to two thin matrix products over N.

    Keys may come from their own inputs (`keys=`): the shapes model feeds them features whose position
    embedding is damped, so slots compete on colour more than on place (see `ModelConfig`).

    An attention `bias [B, K, N]` (log-odds added to the logits before the softmax) states what the caller
    already believes about which slot owns each input. Video uses it: the previous frame's masks, so a
    pixel stays with its slot unless the image says otherwise. It is never used in training.
    """

    def __init__(
        self,
        num_slots: int,
        dim: int,
        iters: int = 3,
        hidden_dim: int = 128,
        eps: float = 1e-8,
        init: str = "gaussian",
        implicit: bool = False,
        query_noise: float = 0.0,
    ) -> None:
        super().__init__()
        if init not in ("gaussian", "learned"):
            raise ValueError(f"init must be 'gaussian' or 'learned', not {init!r}")
        self.num_slots, self.dim, self.iters, self.eps = num_slots, dim, iters, eps
        self.init, self.implicit, self.query_noise = init, implicit, query_noise
        self.scale = dim**-0.5

        if init == "gaussian":  # the paper: slots ~ N(mu, sigma^2), one shared learned Gaussian
            self.slots_mu = nn.Parameter(torch.randn(1, 1, dim) * dim**-0.5)
            self.slots_logsigma = nn.Parameter(torch.zeros(1, 1, dim))
        else:  # BO-QSA: one learned query per slot
            self.slots_init = nn.Parameter(torch.randn(1, num_slots, dim) * dim**-0.5)

        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.gru = nn.GRUCell(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, dim))
        self.norm_input = nn.LayerNorm(dim)
        self.norm_slots = nn.LayerNorm(dim)
        self.norm_mlp = nn.LayerNorm(dim)

    def initial_slots(
        self, batch: int, num_slots: int | None = None, noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Initial slots `[B, K, D]`; `noise` (standard normal, `[B, K, D]`) makes the draw explicit.

        Learned queries ignore the noise unless `query_noise` > 0; then they are jittered by it (more
        draws to choose from at inference; a zero noise row gives the queries themselves)."""
        k = num_slots or self.num_slots
        if self.init == "learned":
            if k != self.num_slots:
                raise ValueError(f"this model learned {self.num_slots} slot queries; it cannot use {k} slots")
            if noise is not None and self.query_noise > 0:
                return self.slots_init + self.query_noise * noise.to(self.slots_init.dtype)
            return self.slots_init.expand(batch, -1, -1)
        if noise is None:
            noise = torch.randn(batch, k, self.dim, generator=generator, device=self.slots_mu.device)
        return self.slots_mu + self.slots_logsigma.exp() * noise.to(self.slots_mu.dtype)

    def step(self, slots: Tensor, x: Tensor, xk: Tensor | None = None,
             bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One iteration on normed inputs `x [B, N, D]` (and normed key inputs `xk`, default `x`; attention
        logits shifted by `bias [B, K, N]` when given); returns (new slots, attention `[B, K, N]`)."""
        b, k, d = slots.shape
        xk = x if xk is None else xk
        q = self.to_q(self.norm_slots(slots)) * self.scale  # [B, K, D]
        logits = (q @ self.to_k.weight) @ xk.transpose(1, 2) + (q @ self.to_k.bias).unsqueeze(-1)  # [B, K, N]
        if bias is not None:
            logits = logits + bias
        attn = logits.float().softmax(dim=1)  # softmax over slots: the competition
        weights = attn + self.eps
        weights = weights / weights.sum(dim=-1, keepdim=True)  # weighted mean over inputs
        updates = self.to_v(weights.to(x.dtype) @ x)  # [B, K, D]
        slots = self.gru(updates.reshape(-1, d), slots.reshape(-1, d)).reshape(b, k, d)
        return slots + self.mlp(self.norm_mlp(slots)), attn

    def forward(
        self,
        inputs: Tensor,
        num_slots: int | None = None,
        iters: int | None = None,
        slots: Tensor | None = None,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
        keys: Tensor | None = None,
        bias: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Run `T` iterations on `inputs [B, N, D]` (keys from `keys [B, N, D]` when given, every iteration's
        logits shifted by `bias [B, K, N]` when given).

        Returns `(slots [B, K, D], attention [T, B, K, N], slot history [T+1, B, K, D])`.
        Pass `slots` to continue from an edited slot set (re-converge), else they are drawn.
        """
        t = self.iters if iters is None else iters
        x = self.norm_input(inputs)
        xk = None if keys is None or keys is inputs else self.norm_input(keys)
        if slots is None:
            slots = self.initial_slots(inputs.shape[0], num_slots, noise, generator)
        start = slots
        history, attention = [slots], []
        implicit = self.implicit and self.training and torch.is_grad_enabled()
        for i in range(t):
            last = i == t - 1
            if implicit and last:
                # BO-QSA / implicit differentiation: gradient flows only through the last iteration,
                # handed straight through to the initial slots.
                slots = slots.detach() + start - start.detach()
            with torch.set_grad_enabled(torch.is_grad_enabled() and (last or not implicit)):
                slots, attn = self.step(slots, x, xk, bias)
            history.append(slots)
            attention.append(attn)
        if not attention:  # iters=0: the initial slots alone, and no attention yet
            return slots, x.new_zeros(0, x.shape[0], slots.shape[1], x.shape[1]), torch.stack(history)
        return slots, torch.stack(attention), torch.stack(history)

"""The contract both backends (PyTorch, ONNX Runtime) fulfil: numpy in, numpy out, batch first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from slotviewer.model.config import ModelCard, ModelConfig


@dataclass
class ForwardResult:
    """A batch through the model, in the layout of the ONNX graph.

    features `[B, N, D]` (encoder output, before Slot Attention's input norm), attention `[T, B, K, N]`,
    slots `[T+1, B, K, D]`, rgb `[B, K, 3, R, R]`, alpha logits `[B, K, R, R]`, and the features the keys
    are computed from `[B, N, D]` (equal to `features` unless the model damps position in its keys).
    """

    features: np.ndarray
    attention: np.ndarray
    slots: np.ndarray
    rgb: np.ndarray
    alpha_logits: np.ndarray
    key_features: np.ndarray

    def pick(self, index: int) -> ForwardResult:
        """Batch item `index` alone, still batch-first (B = 1)."""
        i = slice(index, index + 1)
        return ForwardResult(self.features[i], self.attention[:, i], self.slots[:, i], self.rgb[i],
                             self.alpha_logits[i], self.key_features[i])


class Backend(Protocol):
    name: str  # "torch" or "onnx"
    device: str  # what really runs, e.g. "cpu", "cuda:0 (NVIDIA H100)", "CPUExecutionProvider"
    config: ModelConfig
    card: ModelCard
    model_name: str
    model_sha256: str  # the .safetensors the weights came from (ONNX: the one the graph was exported from)
    graph_sha256: str | None  # the .onnx file that runs (None for torch)
    takes_attention_bias: bool  # whether `iterate` accepts `bias` (an old ONNX step graph does not)

    def forward(self, images: np.ndarray, noise: np.ndarray, iters: int) -> ForwardResult:
        """`images [B, 3, R, R]` float32 in [0, 1], `noise [B, K, D]` standard normal."""
        ...

    def encode(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder alone: `images [B, 3, R, R]` → (features `[B, N, D]`, key features `[B, N, D]`)."""
        ...

    def iterate(self, features: np.ndarray, slots: np.ndarray, iters: int,
                key_features: np.ndarray | None = None,
                bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Continue Slot Attention (keys from `key_features`, default `features`; attention logits shifted
        by `bias [B, K, N]` in every iteration when given): returns (attention `[iters, B, K, N]`, slots
        `[iters+1, B, K, D]`)."""
        ...

    def decode(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots `[B, K, D]` → (rgb `[B, K, 3, R, R]`, alpha logits `[B, K, R, R]`)."""
        ...

"""PyTorch backend: the reference implementation, and the only one that needs torch installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from slotviewer.engine.backend import ForwardResult
from slotviewer.model.device import resolve_torch_device
from slotviewer.model.weights import load_model


class TorchBackend:
    name = "torch"
    takes_attention_bias = True

    def __init__(self, model: str | Path, device: str = "auto") -> None:
        self.torch_device = resolve_torch_device(device)
        loaded = load_model(model, self.torch_device)
        self.model = loaded.model
        self.config, self.card = loaded.config, loaded.card
        self.model_name, self.model_sha256, self.model_path = loaded.name, loaded.sha256, loaded.path
        self.graph_sha256: str | None = None
        if self.torch_device.type == "cuda":
            self.device = f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
        else:
            self.device = f"cpu ({torch.get_num_threads()} threads)"

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.torch_device)

    @staticmethod
    def _numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().float().cpu().numpy()

    @torch.inference_mode()
    def forward(self, images: np.ndarray, noise: np.ndarray, iters: int) -> ForwardResult:
        features, keys = self.model.encoder(self._tensor(images))
        slots, attention, history = self.model.slot_attention(
            features, num_slots=noise.shape[1], iters=iters, noise=self._tensor(noise), keys=keys
        )
        rgb, alpha_logits = self.model.decoder(slots)
        return ForwardResult(*(self._numpy(t) for t in (features, attention, history, rgb, alpha_logits, keys)))

    @torch.inference_mode()
    def encode(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, keys = self.model.encoder(self._tensor(images))
        return self._numpy(features), self._numpy(keys)

    @torch.inference_mode()
    def iterate(self, features: np.ndarray, slots: np.ndarray, iters: int,
                key_features: np.ndarray | None = None,
                bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        keys = None if key_features is None else self._tensor(key_features)
        _, attention, history = self.model.slot_attention(
            self._tensor(features), slots=self._tensor(slots), iters=iters, keys=keys,
            bias=None if bias is None else self._tensor(bias))
        return self._numpy(attention), self._numpy(history)

    @torch.inference_mode()
    def decode(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb, alpha_logits = self.model.decoder(self._tensor(slots))
        return self._numpy(rgb), self._numpy(alpha_logits)

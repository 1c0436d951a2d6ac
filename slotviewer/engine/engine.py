"""`Engine`: load a model on a backend, run images into `Trace`s, decode edited slots. No Qt here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np

from slotviewer.engine.backend import Backend, ForwardResult
from slotviewer.engine.familiarity import familiarity, reconstruction_mse
from slotviewer.engine.kmeans import kmeans, render_clusters
from slotviewer.engine.preprocess import model_input
from slotviewer.engine.trace import Trace, composite
from slotviewer.errors import SlotviewerError
from slotviewer.model.config import MAX_DRAWS, MAX_ITERS, MAX_SLOTS

Method = Literal["slot-attention", "soft-kmeans", "kmeans"]
METHODS: tuple[str, ...] = ("slot-attention", "soft-kmeans", "kmeans")
# the run parameters' limits and choices, defined once: the engine checks them, the GUI's widgets and the
# CLI's arguments take their ranges from here
MAX_SEED = 2**31 - 1
BACKENDS: tuple[str, ...] = ("onnx", "torch")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def new_seed() -> int:
    """A fresh random seed, recorded in the trace so any run can be repeated exactly."""
    return int(np.random.SeedSequence().entropy % (2**31))


def slot_noise(seed: int, batch: int, slots: int, dim: int) -> np.ndarray:
    """The initial-slot noise: a numpy draw, so torch and ONNX Runtime see identical inputs."""
    return np.random.default_rng(seed).standard_normal((batch, slots, dim), dtype=np.float32)


def draws_noise(seed: int, draws: int, slots: int, dim: int, learned: bool) -> np.ndarray:
    """The noise of `draws` initial slot sets `[draws, K, D]`. Draw 0 is the single draw of the same seed, so
    one draw repeats any earlier run; with learned queries draw 0 is the queries themselves (zero noise)."""
    noise = slot_noise(seed, draws, slots, dim)
    if learned:
        noise[0] = 0.0
    return noise


class Engine:
    """One model on one backend. Create with `Engine.load`; every method is thread-compatible
    (one engine per worker thread)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.config = backend.config

    @classmethod
    def load(cls, model: str | Path = "shapes", backend: str = "auto", device: str = "auto") -> Engine:
        """`model` is a shipped name or a path; `backend` "auto" (ONNX Runtime when installed, else torch;
        an `.onnx` path means ONNX), "torch" or "onnx"; `device` auto/cpu/cuda."""
        from slotviewer.engine.select import choose_backend

        if choose_backend(model, backend) == "torch":  # it checked `backend`: torch or onnx from here
            from slotviewer.engine.torch_backend import TorchBackend

            return cls(TorchBackend(model, device))
        from slotviewer.engine.onnx_backend import OnnxBackend

        return cls(OnnxBackend(model, device))

    @property
    def description(self) -> str:
        """What really runs, e.g. `shapes · ONNX Runtime · CPUExecutionProvider`."""
        label = {"torch": "PyTorch", "onnx": "ONNX Runtime"}[self.backend.name]
        return f"{self.backend.model_name} · {label} · {self.backend.device}"

    @property
    def takes_attention_bias(self) -> bool:
        """Whether `run(..., attention_bias=...)` works: always with torch; with ONNX, when the step graph
        has the `attention_bias` input (graphs exported by an older slotviewer do not)."""
        return self.backend.takes_attention_bias

    @property
    def fixed_slots(self) -> bool:
        """Learned initial queries fix K; Gaussian slots let K be chosen per run."""
        return self.config.slot_init == "learned"

    def _slot_count(self, slots: int | None, method: str) -> int:
        k = self.config.num_slots if slots is None else int(slots)
        if self.fixed_slots and k != self.config.num_slots and method == "slot-attention":
            raise SlotviewerError(f"{self.backend.model_name} learned {self.config.num_slots} slot queries; "
                                  f"it cannot run with {k} slots")
        if not 1 <= k <= MAX_SLOTS:
            raise SlotviewerError(f"number of slots must be 1..{MAX_SLOTS}, got {k}")
        return k

    def run(self, image: np.ndarray, *, slots: int | None = None, iters: int | None = None,
            seed: int | None = None, method: Method = "slot-attention",
            init_slots: np.ndarray | None = None, draws: int | None = None,
            attention_bias: np.ndarray | None = None) -> Trace:
        """Run one image (any size, RGB/RGBA/grey, uint8/uint16/float) into a `Trace`.

        `draws` (default: the model's `config.draws`) runs that many initial slot sets side by side and
        keeps the one whose reconstruction is closest to the image: Slot Attention settles in a local
        optimum, and one that splits or merges objects redraws the image worse.

        `init_slots [K, D]` starts Slot Attention from given slots instead of drawing them: video carry-over
        (SAVi), where frame t's final slots start frame t+1, so slot k keeps following the same object
        and a couple of iterations suffice. `slots` (the count K) then comes from `init_slots`.
        `attention_bias [K, h, w]` (with `init_slots` only) is added to every iteration's attention logits
        at the feature grid: what the caller believes about which slot owns each place (video: the last
        frame's masks, see `video.mask_prior`).
        """
        if init_slots is not None:  # the backends take any float dtype
            return self._run_from(image, np.asarray(init_slots), iters, attention_bias)
        if attention_bias is not None:
            raise SlotviewerError("an attention bias needs init_slots: it refers to slots that already exist")
        if method not in METHODS:
            raise SlotviewerError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        k, t = self._slot_count(slots, method), self._iterations(iters)
        n = self._draws(draws)
        seed = new_seed() if seed is None else int(seed)
        start = time.perf_counter()
        x, display = model_input(image, self.config.resolution)
        prepared = time.perf_counter()
        run = {"K": k, "T": t, "seed": seed, "method": method}
        if method == "slot-attention":
            noise = draws_noise(seed, n, k, self.config.slot_dim, self.fixed_slots)
            result = self.backend.forward(np.repeat(x[None], n, axis=0), noise, t)
            best = self._best_draw(x, result) if n > 1 else 0
            trace = self._trace(result.pick(best), display)
            run |= {"draws": n, "draw": best}
        else:  # k-means clusters the encoder's features: the encoder alone runs
            features, _ = self.backend.encode(x[None])
            trace = self._kmeans_trace(features[0], x, display, k, t, seed, soft=method == "soft-kmeans")
        return self._finish(trace, x, run, start, prepared)

    @staticmethod
    def _best_draw(x: np.ndarray, result: ForwardResult) -> int:
        """The batch item whose alpha composite is closest to the model input `x`."""
        errors = [reconstruction_mse(x, composite(rgb.transpose(0, 2, 3, 1), alpha))
                  for rgb, alpha in zip(result.rgb, result.alpha_logits, strict=True)]
        return int(np.argmin(errors))

    def _draws(self, draws: int | None) -> int:
        n = self.config.draws if draws is None else int(draws)
        if not 1 <= n <= MAX_DRAWS:
            raise SlotviewerError(f"draws must be 1..{MAX_DRAWS}, got {n}")
        return n

    def _iterations(self, iters: int | None) -> int:
        t = self.config.iters if iters is None else int(iters)
        if not 0 <= t <= MAX_ITERS:
            raise SlotviewerError(f"iterations must be 0..{MAX_ITERS}, got {t}")
        return t

    def _finish(self, trace: Trace, x: np.ndarray, run: dict, start: float, prepared: float) -> Trace:
        """Add what a result came from, how familiar the image looked to the model, and where time went."""
        done = time.perf_counter()
        provenance = self.provenance() | run
        # k-means has no decoder: its "reconstruction" says nothing; nor do T=0's initial slots, decoded before
        # they have seen the image (its error would flag the model's own scenes as unfamiliar)
        if run["method"] == "slot-attention" and trace.iterations > 0:
            mse = reconstruction_mse(x, composite(trace.rgb, trace.alpha_logits))
            provenance["familiarity"] = familiarity(mse, self.backend.card.typical_mse)
        timings = {"preprocess": (prepared - start) * 1e3, "forward": (done - prepared) * 1e3,
                   "total": (done - start) * 1e3}
        # the posterior needs what the decoder was asked to draw; k-means' one colour per cluster is not a decoder's
        # guess, so its labels stay the clusters' own (`Trace.posterior` falls back to alpha without a target)
        target = x.transpose(1, 2, 0) if run["method"] == "slot-attention" else None
        return trace.replace(provenance=provenance, timings_ms=timings, target=target)

    def _run_from(self, image: np.ndarray, init: np.ndarray, iters: int | None,
                  bias: np.ndarray | None = None) -> Trace:
        d, f = self.config.slot_dim, self.config.feature_size
        if init.ndim != 2 or init.shape[1] != d or not 1 <= len(init) <= MAX_SLOTS:
            raise SlotviewerError(f"initial slots must have shape [K, {d}] with K in 1..{MAX_SLOTS}, got {init.shape}")
        if bias is not None and np.shape(bias) != (len(init), f, f):
            raise SlotviewerError(f"the attention bias must have shape [K, {f}, {f}] = {(len(init), f, f)}, "
                                  f"got {np.shape(bias)}")
        if self.fixed_slots and len(init) != self.config.num_slots:
            raise SlotviewerError(f"{self.backend.model_name} runs with {self.config.num_slots} slots, "
                                  f"got {len(init)} initial slots")
        t = self._iterations(iters)
        start = time.perf_counter()
        x, display = model_input(image, self.config.resolution)
        prepared = time.perf_counter()
        features, keys = self.backend.encode(x[None])
        flat_bias = None if bias is None else np.asarray(bias, np.float32).reshape(1, len(init), f * f)
        attention, history = self.backend.iterate(features, init[None], t, keys, flat_bias)
        rgb, alpha_logits = self.backend.decode(history[-1])
        trace = self._trace(ForwardResult(features, attention, history, rgb, alpha_logits, keys), display)
        run = {"K": len(init), "T": t, "seed": None, "method": "slot-attention", "init": "carried"}
        return self._finish(trace, x, run, start, prepared)

    def provenance(self) -> dict:
        b = self.backend
        return {"model": b.model_name, "model_sha256": b.model_sha256,
                **({"graph_sha256": b.graph_sha256} if b.graph_sha256 else {}),  # ONNX: the graph file too
                "backend": b.name, "device": b.device, "slot_init": self.config.slot_init}

    def _trace(self, result: ForwardResult, display: np.ndarray) -> Trace:
        f = self.config.feature_size
        attention = result.attention[:, 0]
        return Trace(
            image=display,
            features=result.features[0],
            key_features=result.key_features[0],
            attention=attention.reshape(*attention.shape[:2], f, f),
            slots=result.slots[:, 0],
            rgb=result.rgb[0].transpose(0, 2, 3, 1),
            alpha_logits=result.alpha_logits[0],
        )

    def _kmeans_trace(self, features: np.ndarray, x: np.ndarray, display: np.ndarray, k: int, t: int,
                      seed: int, soft: bool) -> Trace:
        f, r = self.config.feature_size, self.config.resolution
        responsibilities, centroids = kmeans(features, k, t, seed, soft=soft)
        last = responsibilities[-1] if t else np.full((k, f * f), 1.0 / k, np.float32)
        rgb, alpha_logits = render_clusters(last.reshape(k, f, f), x, r)
        return Trace(image=display, features=features, attention=responsibilities.reshape(t, k, f, f),
                     slots=centroids, rgb=rgb, alpha_logits=alpha_logits)

    def decode(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots `[K, D]` → (rgb `[K, R, R, 3]`, alpha logits `[K, R, R]`), without the encoder."""
        rgb, alpha_logits = self.backend.decode(np.asarray(slots)[None])  # the backends take any float dtype
        return rgb[0].transpose(0, 2, 3, 1), alpha_logits[0]

    def decode_iteration(self, trace: Trace, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        """Decode the slots as they were after `iteration` (0 = the initial slots): for scrubbing."""
        if trace.method != "slot-attention":
            raise SlotviewerError("k-means centroids live in feature space; there is no decoder for them")
        return self.decode(trace.slots[iteration])

    def decode_iterations(self, trace: Trace) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decode the slots of every iteration before the last in one batched call (for the scrubber)."""
        if trace.method != "slot-attention" or trace.iterations == 0:
            return []
        rgb, alpha_logits = self.backend.decode(trace.slots[:-1])  # the backends take any float dtype
        return [(rgb[t].transpose(0, 2, 3, 1), alpha_logits[t]) for t in range(trace.iterations)]

    def iterate(self, features: np.ndarray, slots: np.ndarray, iters: int,
                key_features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Continue Slot Attention from `slots [K, D]` on `features [N, D]` (keys from `key_features`,
        default `features`): (attention `[T, K, h, w]`, slots `[T+1, K, D]`)."""
        slots = np.asarray(slots)  # the backends take any float dtype
        keys = None if key_features is None else key_features[None]
        attention, history = self.backend.iterate(features[None], slots[None], iters, keys)
        f = self.config.feature_size
        return attention[:, 0].reshape(iters, len(slots), f, f), history[:, 0]

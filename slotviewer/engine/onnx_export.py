"""Export a model to the three ONNX graphs the ONNX backend runs (see README, "ONNX contract").

- `NAME.onnx`: (image `[B,3,R,R]`, noise `[B,K,D]`) → attention `[T,B,K,N]`, slots `[T+1,B,K,D]`,
  rgb `[B,K,3,R,R]`, alpha_logits `[B,K,R,R]`, composite `[B,3,R,R]`, features `[B,N,D]`,
  key_features `[B,N,D]` (what the keys are computed from);
- `NAME.decoder.onnx`: slots `[B,K,D]` → rgb, alpha_logits, composite (slot surgery);
- `NAME.step.onnx`: (features `[B,N,D]`, key_features `[B,N,D]`, slots `[B,K,D]`, attention_bias `[B,K,N]`)
  → attention `[B,K,N]`, new_slots `[B,K,D]`: one more iteration, for re-converge, for running more
  iterations than the graph was exported with, and for video frames (the bias: the last frame's masks);
- `NAME.encoder.onnx`: image `[B,3,R,R]` → features, key_features: the encoder alone, so a video frame whose
  slots are carried over from the previous frame runs encoder + a few steps + decoder, not the full graph.
Batch and slot count are dynamic; the model config travels in each graph's metadata.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn

from slotviewer.engine.onnx_contract import DECODER, ENCODER, FULL, STEP, input_names, output_names
from slotviewer.errors import SlotviewerError
from slotviewer.io.atomic import write_with
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.files import GRAPH_ENDINGS, strip_model_suffix, with_ext
from slotviewer.model.weights import load_model


class _Full(nn.Module):
    def __init__(self, model: SlotAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor, noise: Tensor) -> tuple[Tensor, ...]:
        features, keys = self.model.encoder(image)
        slots, attention, history = self.model.slot_attention(features, noise=noise, keys=keys)  # K from noise
        composite, rgb, alpha_logits = self.model.decode(slots)
        return attention, history, rgb, alpha_logits, composite, features, keys


class _Decoder(nn.Module):
    def __init__(self, model: SlotAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, slots: Tensor) -> tuple[Tensor, ...]:
        composite, rgb, alpha_logits = self.model.decode(slots)
        return rgb, alpha_logits, composite


class _Encoder(nn.Module):
    def __init__(self, model: SlotAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.encoder(image)


class _Step(nn.Module):
    def __init__(self, model: SlotAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, key_features: Tensor, slots: Tensor,
                attention_bias: Tensor) -> tuple[Tensor, Tensor]:
        sa = self.model.slot_attention
        new_slots, attention = sa.step(slots, sa.norm_input(features), sa.norm_input(key_features), attention_bias)
        return attention, new_slots


def _export(module: nn.Module, args: tuple[Tensor, ...], names: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, object]], path: Path, metadata: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(module, args, dynamo=True, input_names=names, output_names=outputs,
                                    dynamic_shapes=dynamic, verbose=False)
    proto = program.model_proto
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    write_with(path, lambda tmp: onnx.save(proto, str(tmp)))


def _no_tqdm_monitor() -> None:
    """torch's exporter draws a tqdm bar, and tqdm then starts a monitor thread that wakes every 10 s to run
    Python: a garbage collection it sets off during the export can deadlock with the tracer (as the GUI
    thread's once did). The monitor only tunes how often bars redraw; without it they still work."""
    import tqdm

    tqdm.tqdm.monitor_interval = 0
    if tqdm.tqdm.monitor is not None:
        tqdm.tqdm.monitor.exit()
        tqdm.tqdm.monitor = None


def export_onnx(model: str | Path, out: str | Path) -> list[Path]:
    """Write `out.onnx`, `out.decoder.onnx`, `out.step.onnx`, `out.encoder.onnx` for a model (a name, stem or
    weights file); returns the paths."""
    _no_tqdm_monitor()
    loaded = load_model(model)
    net, cfg = loaded.model.eval().cpu(), loaded.config
    stem = strip_model_suffix(out)
    metadata = {"slotviewer.config": json.dumps(cfg.to_dict()), "slotviewer.model_sha256": loaded.sha256,
                "slotviewer.name": loaded.name}  # what the graph came from, for anyone inspecting the file
    batch = torch.export.Dim("batch", min=1, max=4096)
    slots = torch.export.Dim("slots", min=1, max=64)
    r, d, k, n = cfg.resolution, cfg.slot_dim, cfg.num_slots, cfg.feature_size**2
    image, noise = torch.rand(2, 3, r, r), torch.randn(2, k, d)
    # K is dynamic everywhere except in the full graph of a model with learned queries (fixed K)
    noise_dims = {0: batch, 1: slots} if cfg.slot_init == "gaussian" else {0: batch}
    paths = [with_ext(stem, ext) for ext in GRAPH_ENDINGS]
    with torch.no_grad():
        _export(_Full(net), (image, noise), input_names(FULL), output_names(FULL),
                {"image": {0: batch}, "noise": noise_dims}, paths[0], metadata)
        _export(_Decoder(net), (torch.randn(2, k, d),), input_names(DECODER), output_names(DECODER),
                {"slots": {0: batch, 1: slots}}, paths[1], metadata)
        _export(_Step(net), (torch.randn(2, n, d), torch.randn(2, n, d), torch.randn(2, k, d), torch.zeros(2, k, n)),
                input_names(STEP), output_names(STEP),
                {"features": {0: batch}, "key_features": {0: batch}, "slots": {0: batch, 1: slots},
                 "attention_bias": {0: batch, 1: slots}}, paths[2], metadata)
        _export(_Encoder(net), (image,), input_names(ENCODER), output_names(ENCODER), {"image": {0: batch}},
                paths[3], metadata)
    return paths


EXPORT_TIMEOUT = 600.0  # an export takes seconds; a child stuck this long is killed rather than waited on


def export_onnx_apart(weights: str | Path, out: str | Path, stop: Callable[[], bool] | None = None) -> bool:
    """`export_onnx` in a process of its own, for callers on a background thread of a long-lived process (the
    live view's *Learn this scene*, the app's *Adapt*): torch's export tracer and the GUI thread's garbage
    collector deadlocked there once in a test run (the collector, holding the GIL, waited on a lock the tracing
    thread held). An export takes seconds: when `stop()` turns true the process is killed and this returns
    False (the caller removes what it wrote); True when the graphs were written."""
    command = [sys.executable] + ([] if getattr(sys, "frozen", False) else ["-m", "slotviewer"])
    process = subprocess.Popen([*command, "export-onnx", "--model", str(weights), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + EXPORT_TIMEOUT
    while True:
        try:
            _, stderr = process.communicate(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            late = time.monotonic() > deadline
            if late or (stop is not None and stop()):
                process.kill()
                process.communicate()
                if late:
                    raise SlotviewerError(f"{out}: ONNX export took over {EXPORT_TIMEOUT:g} s and was stopped "
                                          "(try `slotviewer export-onnx` in a terminal)") from None
                return False
    if process.returncode != 0:
        said = (stderr.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
        raise SlotviewerError(f"{out}: ONNX export failed ({said.removeprefix('slotviewer: error: ')})")
    return True

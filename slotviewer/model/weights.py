"""Model files: `NAME.safetensors` (weights, never pickle) + `NAME.json` (config and model card).

Every failure while loading becomes a `ModelFileError` whose one line names the file and the problem.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from slotviewer.errors import ModelFileError
from slotviewer.io.atomic import write_text, write_with
from slotviewer.model.autoencoder import SlotAutoencoder
from slotviewer.model.config import ModelCard, ModelConfig
from slotviewer.model.files import (
    check_model_name,
    file_sha256,
    model_paths,
    read_model_json,
    strip_model_suffix,
    with_ext,
)


@dataclass
class LoadedModel:
    model: SlotAutoencoder
    config: ModelConfig
    card: ModelCard
    name: str
    path: Path  # the .safetensors file
    sha256: str


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model by shipped name or path; the weights must match the config exactly."""
    check_model_name(name_or_path)  # an image or a typo given as --model: said as `run` and `gui` say it
    weights_path, json_path = model_paths(name_or_path)
    if not weights_path.exists():
        if Path(name_or_path).suffix == ".onnx":
            raise ModelFileError(f"{name_or_path}: this needs the model's torch weights, and {weights_path.name} is "
                                 "not beside it (an ONNX model alone runs in `run` and `gui`)")
        raise ModelFileError(f"{weights_path}: model weights not found")
    config, card = read_model_json(json_path)
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights_path}: not a valid safetensors file ({exc})") from None
    model = SlotAutoencoder(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{k} has shape {tuple(state[k].shape)}, config expects {tuple(expected[k].shape)}")
        raise ModelFileError(f"{weights_path}: weights do not match {json_path.name}: " + "; ".join(parts))
    model.load_state_dict(state)
    model.eval().to(device)
    return LoadedModel(model, config, card, weights_path.stem, weights_path, file_sha256(weights_path))


def weight_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's parameters and buffers as safetensors takes them: detached, contiguous, on the CPU."""
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save_model(model: SlotAutoencoder, stem: str | Path, card: ModelCard | None = None) -> tuple[Path, Path]:
    """Write `stem.safetensors` and `stem.json` atomically; returns both paths."""
    stem = strip_model_suffix(stem)
    weights_path, json_path = with_ext(stem, ".safetensors"), with_ext(stem, ".json")
    state = weight_tensors(model)
    write_with(weights_path, lambda tmp: save_file(state, str(tmp)))
    meta: dict[str, Any] = {"config": model.cfg.to_dict(), "card": dataclasses.asdict(card or ModelCard())}
    write_text(json_path, json.dumps(meta, indent=2) + "\n")
    return weights_path, json_path

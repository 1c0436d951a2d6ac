"""Locating and describing model files without importing torch (the ONNX backend needs this too)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from slotviewer.errors import ModelFileError
from slotviewer.model.config import ModelCard, ModelConfig

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODEL_SUFFIXES = (".safetensors", ".json", ".onnx")
# the ONNX graphs `export-onnx` writes for a model stem: full, decoder, one step, encoder (in that order)
GRAPH_ENDINGS = (".onnx", ".decoder.onnx", ".step.onnx", ".encoder.onnx")


def with_ext(stem: Path, ext: str) -> Path:
    """`stem` + `ext`. Unlike `Path.with_suffix` it keeps dots in the stem: `mine.v2` → `mine.v2.onnx`."""
    return stem.with_name(stem.name + ext)


def strip_model_suffix(path: str | Path) -> Path:
    """`x.safetensors`, `x.json` or `x.onnx` → `x`; any other path is already a stem."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in MODEL_SUFFIXES else p


def model_stem(name_or_path: str | Path) -> Path:
    """The path stem of a model given by shipped name (`shapes`), stem (`models/shapes`) or any of its
    files. A bare name means the shipped model unless a model of that name is here (any of its files, for
    both backends alike: `adapt --out shapes --no-onnx` here must not make `shapes` the local weights for
    torch and the shipped graph for ONNX Runtime)."""
    p = Path(name_or_path)
    if p.suffix in MODEL_SUFFIXES:
        return strip_model_suffix(p)
    if not p.parent.parts and not any(with_ext(p, ext).exists() for ext in MODEL_SUFFIXES):
        return MODELS_DIR / p.name
    return p


def check_model_name(name_or_path: str | Path) -> None:
    """A one-line error, before any file is looked for, when `name_or_path` cannot name a model: a bare name
    that is neither shipped nor a model here (listing the shipped ones), an existing file that is not a
    model's (an image given as --model), or a model's file with neither weights nor graph beside it."""
    p = Path(name_or_path)
    if p.suffix in MODEL_SUFFIXES:
        stem = strip_model_suffix(p)
        if not any(with_ext(stem, suffix).exists() for suffix in (".safetensors", ".onnx")):
            if not p.exists():
                raise ModelFileError(f"{p}: no such file")
            raise ModelFileError(f"{p}: no model beside it (neither {stem.name}.safetensors nor {stem.name}.onnx)")
        return
    if p.is_file():
        raise ModelFileError(f"{p}: not a model (give a model's .json, .safetensors or .onnx, or a shipped name)")
    here = any(with_ext(p, suffix).exists() for suffix in MODEL_SUFFIXES)
    if not p.parent.parts and not here and not with_ext(MODELS_DIR / p.name, ".json").exists():
        shipped = ", ".join(sorted(f.stem for f in MODELS_DIR.glob("*.json")))
        raise ModelFileError(f"{p}: no such model (shipped: {shipped}; or give a model's path)")


def model_paths(name_or_path: str | Path) -> tuple[Path, Path]:
    """(weights, json) of a model."""
    p = model_stem(name_or_path)
    return with_ext(p, ".safetensors"), with_ext(p, ".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_model_json(json_path: Path) -> tuple[ModelConfig, ModelCard]:
    """Config and card from a model's JSON, with a one-line error for anything wrong."""
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{json_path}: model config not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{json_path}: not a valid model config ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ModelFileError(f"{json_path}: not a slotviewer model config (no 'config' object)")
    try:
        config = ModelConfig.from_dict(meta["config"])
        card = ModelCard(**meta.get("card", {}))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{json_path}: invalid model config ({exc})") from None
    return config, card


def copy_model(source: Path, target: str | Path) -> list[Path]:
    """Copy every file of the model at stem `source` (weights, JSON, ONNX graphs) to stem `target`, each
    written atomically, and remove graphs at `target` that `source` has none of (they would be another
    model's): *Save model as…* for a model adapted into a temporary folder."""
    from slotviewer.io.atomic import write_bytes

    stem = strip_model_suffix(target)
    written: list[Path] = []
    copied = with_ext(stem, ".json")
    try:
        for ending in GRAPH_ENDINGS:  # graphs of a model saved there before would run other weights under its name
            if not with_ext(source, ending).exists():
                copied = with_ext(stem, ending)
                copied.unlink(missing_ok=True)
        for path in sorted(source.parent.glob(source.name + ".*")):
            copied = with_ext(stem, path.name[len(source.name):])
            write_bytes(copied, path.read_bytes())
            written.append(copied)
    except OSError as exc:  # said of the file asked for, not of the hidden temporary one beside it
        raise ModelFileError(f"{copied}: cannot write ({exc.strerror or exc})") from None
    return written

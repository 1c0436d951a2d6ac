"""ONNX Runtime backend: same contract as the torch backend, without torch (keeps the packaged app small).

It checks that the graphs fit the contract (see `onnx_export` and the README) and reports the
execution provider that really runs: ORT silently falls back to CPU, we do not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from slotviewer.engine.backend import ForwardResult
from slotviewer.engine.onnx_contract import DECODER, ENCODER, FULL, STEP
from slotviewer.errors import ModelFileError, SlotviewerError, install_hint
from slotviewer.model.config import ModelCard, ModelConfig
from slotviewer.model.files import file_sha256, model_stem, read_model_json, with_ext


def _ort():  # imported lazily so a missing onnxruntime is a clear error, not an ImportError at start-up
    try:
        import onnxruntime
    except ImportError:
        raise SlotviewerError(f"the ONNX backend needs onnxruntime: {install_hint('cpu')} (or gpu for "
                              "onnxruntime-gpu)") from None
    return onnxruntime


def onnx_paths(model: str | Path) -> tuple[Path, Path, Path]:
    """(full, decoder, step) graph paths for a shipped name, a stem, or the full graph's path."""
    p = model_stem(model)
    return with_ext(p, ".onnx"), with_ext(p, ".decoder.onnx"), with_ext(p, ".step.onnx")


def resolve_providers(requested: str) -> list[str]:
    available = _ort().get_available_providers()
    if requested == "cpu":
        return ["CPUExecutionProvider"]
    if requested == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise SlotviewerError("device 'cuda' requested, but this onnxruntime has no CUDA provider "
                                  f"(available: {', '.join(available)}); install slotviewer[gpu]")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if requested != "auto":
        raise SlotviewerError(f"unknown device {requested!r}; use auto, cpu or cuda")
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]


class OnnxBackend:
    name = "onnx"

    def __init__(self, model: str | Path, device: str = "auto") -> None:
        ort = _ort()
        full_path, decoder_path, step_path = onnx_paths(model)
        stem = model_stem(model)
        # weights without graphs (a model just trained): a missing graph's message says how to make it
        export = (f" (export it: slotviewer export-onnx --model {stem} --out {full_path}; or --backend torch)"
                  if with_ext(stem, ".safetensors").exists() else "")
        providers = resolve_providers(device)
        self.full = self._session(ort, full_path, providers, FULL, required=True, missing=export)
        self.decoder = self._session(ort, decoder_path, providers, DECODER, required=True, missing=export)
        self.step = self._session(ort, step_path, providers, STEP, required=False)
        # optional: without it, encoding (video frames with carried-over slots) runs the full graph
        self.encoder = self._session(ort, with_ext(stem, ".encoder.onnx"), providers, ENCODER, required=False)
        self.providers = self.full.get_providers()
        if device == "cuda" and self.providers[0] != "CUDAExecutionProvider":
            raise SlotviewerError(f"{full_path}: CUDA requested but ONNX Runtime fell back to "
                                  f"{self.providers[0]} (CUDA libraries missing?)")
        self.device = self.providers[0]
        self.config, self.card = self._config(full_path)
        self._check_shapes(full_path)
        full_sha = self._sha(self.full)
        for ending, session in ((".decoder.onnx", self.decoder), (".step.onnx", self.step),
                                (".encoder.onnx", self.encoder)):  # e.g. an export interrupted half-way
            sha = self._sha(session) if session is not None else None
            if sha is not None and full_sha is not None and sha != full_sha:
                raise ModelFileError(f"{with_ext(stem, ending)}: exported from other weights than "
                                     f"{full_path.name}; export the model again")
        weights = with_ext(stem, ".safetensors")
        if full_sha and weights.exists() and file_sha256(weights) != full_sha:  # weights changed since
            raise ModelFileError(f"{full_path}: exported from other weights than the {weights.name} beside it "
                                 f"(export it again: slotviewer export-onnx --model {stem} --out {full_path}; "
                                 "or --backend torch)")
        self.model_name = full_path.stem
        self.model_path = full_path
        self.step_path = step_path
        # False for a step graph from before the attention bias: it still iterates, without a bias (and
        # without a step graph nothing iterates at all: that error comes first and says so)
        self.takes_attention_bias = self.step is None or "attention_bias" in {i.name for i in self.step.get_inputs()}
        # the weights the graph was exported from (what torch reports for the same model); a graph made
        # elsewhere, without that record, is known by its own file
        self.graph_sha256 = file_sha256(full_path)
        self.model_sha256 = full_sha or self.graph_sha256
        self.exported_iters = self._exported_iters()

    @staticmethod
    def _sha(session) -> str | None:  # noqa: ANN001
        return session.get_modelmeta().custom_metadata_map.get("slotviewer.model_sha256")

    @staticmethod
    def _session(ort, path: Path, providers: list[str], contract: dict, required: bool,  # noqa: ANN001, ANN205
                 missing: str = ""):
        if not path.exists():
            if required:
                raise ModelFileError(f"{path}: ONNX graph not found{missing}")
            return None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for corrupt graphs  # noqa: BLE001
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{path}: not a loadable ONNX model ({first_line[:200]})") from None
        inputs = {i.name: len(i.shape) for i in session.get_inputs()}
        outputs = {o.name: len(o.shape) for o in session.get_outputs()}
        for kind, have in (("inputs", inputs), ("outputs", outputs)):
            want = contract[kind]
            optional = contract.get("optional", ())
            if any((name not in have and name not in optional) or have.get(name, rank) != rank
                   for name, rank in want.items()):
                expected = ", ".join(f"{n} (rank {r}{', optional' if n in optional else ''})" for n, r in want.items())
                got = ", ".join(f"{n} (rank {r})" for n, r in have.items())
                raise ModelFileError(f"{path}: {kind} do not fit the slotviewer ONNX contract: "
                                     f"expected {expected}; got {got} (graphs from an older slotviewer: "
                                     "export them again with `slotviewer export-onnx`)")
        return session

    def _config(self, full_path: Path) -> tuple[ModelConfig, ModelCard]:
        meta = self.full.get_modelmeta().custom_metadata_map
        json_path = full_path.with_suffix(".json")
        if "slotviewer.config" in meta:
            try:
                config = ModelConfig.from_dict(json.loads(meta["slotviewer.config"]))
            except (ValueError, TypeError) as exc:
                raise ModelFileError(f"{full_path}: invalid slotviewer.config metadata ({exc})") from None
            card = read_model_json(json_path)[1] if json_path.exists() else ModelCard()
            return config, card
        if json_path.exists():
            return read_model_json(json_path)
        raise ModelFileError(f"{full_path}: no 'slotviewer.config' metadata and no {json_path.name} beside it")

    def _check_shapes(self, path: Path) -> None:
        """Static dimensions must agree with the config, so a mismatched model fails here, clearly."""
        cfg = self.config
        r, d, n = cfg.resolution, cfg.slot_dim, cfg.feature_size**2
        # (graph, tensor, axis, expected, meaning); dynamic (named) axes are not checked
        expectations = [
            (self.full, "image", 1, 3, "3 colour channels"), (self.full, "image", 2, r, f"resolution {r}"),
            (self.full, "image", 3, r, f"resolution {r}"), (self.full, "noise", 2, d, f"slot size {d}"),
            (self.full, "attention", 3, n, f"{n} feature positions"),
            (self.decoder, "slots", 2, d, f"slot size {d}"),
        ]
        if self.step is not None:
            expectations += [(self.step, name, axis, size, meaning) for name in ("features", "key_features")
                             for axis, size, meaning in ((1, n, f"{n} feature positions"), (2, d, f"feature size {d}"))]
        for session, name, axis, expected, meaning in expectations:
            shapes = {t.name: t.shape for t in (*session.get_inputs(), *session.get_outputs())}
            value = shapes[name][axis]
            if isinstance(value, int) and value != expected:
                graph = Path(session._model_path).name if hasattr(session, "_model_path") else path.name
                raise ModelFileError(f"{graph}: '{name}' has {value} on axis {axis}; the model config expects "
                                     f"{expected} ({meaning}), shape {shapes[name]}")

    def _exported_iters(self) -> int:
        shape = self.full.get_outputs()[[o.name for o in self.full.get_outputs()].index("attention")].shape
        return shape[0] if isinstance(shape[0], int) else self.config.iters

    def _run_full(self, images: np.ndarray, noise: np.ndarray) -> dict[str, np.ndarray]:
        names = ["attention", "slots", "rgb", "alpha_logits", "features", "key_features"]
        feeds = {"image": np.ascontiguousarray(images, np.float32), "noise": np.ascontiguousarray(noise, np.float32)}
        return dict(zip(names, self.full.run(names, feeds), strict=True))

    def forward(self, images: np.ndarray, noise: np.ndarray, iters: int) -> ForwardResult:
        out = self._run_full(images, noise)
        attention, slots, rgb, alpha_logits = out["attention"], out["slots"], out["rgb"], out["alpha_logits"]
        if iters < self.exported_iters:  # iterations are sequential: an earlier state is exact
            attention, slots = attention[:iters], slots[: iters + 1]
            rgb, alpha_logits = self.decode(slots[-1])
        elif iters > self.exported_iters:
            more_attention, more_slots = self.iterate(out["features"], slots[-1], iters - self.exported_iters,
                                                      out["key_features"])
            attention = np.concatenate([attention, more_attention])
            slots = np.concatenate([slots, more_slots[1:]])
            rgb, alpha_logits = self.decode(slots[-1])
        return ForwardResult(out["features"], attention, slots, rgb, alpha_logits, out["key_features"])

    def encode(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.encoder is None:  # an older export: the full graph computes the features too (slower)
            b = len(images)
            out = self._run_full(images, np.zeros((b, self.config.num_slots, self.config.slot_dim), np.float32))
            return out["features"], out["key_features"]
        features, keys = self.encoder.run(["features", "key_features"],
                                          {"image": np.ascontiguousarray(images, np.float32)})
        return features, keys

    def iterate(self, features: np.ndarray, slots: np.ndarray, iters: int,
                key_features: np.ndarray | None = None,
                bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.step is None:
            raise SlotviewerError(f"{self.model_name}: this ONNX model has no .step.onnx graph, so it cannot "
                                  "run extra iterations or re-converge")
        history, attention = [np.asarray(slots, np.float32)], []
        features = np.ascontiguousarray(features, np.float32)
        keys = features if key_features is None else np.ascontiguousarray(key_features, np.float32)
        b, k = history[0].shape[:2]
        if bias is not None and not self.takes_attention_bias:
            raise SlotviewerError(f"{self.step_path}: this step graph has no attention_bias input (exported by an "
                                  "older slotviewer); export the model again to use an attention bias")
        feeds = {"features": features, "key_features": keys}
        if self.takes_attention_bias:
            feeds["attention_bias"] = (np.zeros((b, k, features.shape[1]), np.float32) if bias is None
                                       else np.ascontiguousarray(bias, np.float32))
        for _ in range(iters):
            attn, new = self.step.run(["attention", "new_slots"], feeds | {"slots": history[-1]})
            attention.append(attn)
            history.append(new)
        stacked = np.stack(attention) if attention else np.zeros((0, b, k, features.shape[1]), np.float32)
        return stacked, np.stack(history)

    def decode(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb, alpha_logits = self.decoder.run(["rgb", "alpha_logits"],
                                             {"slots": np.ascontiguousarray(slots, np.float32)})
        return rgb, alpha_logits

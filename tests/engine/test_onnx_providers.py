"""ONNX Runtime backend: which execution providers are asked for, graphs that do not belong together,
optional graphs missing, iteration counts other than the exported one, and the config's sources."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from slotviewer.engine import Engine, onnx_backend
from slotviewer.errors import ModelFileError, SlotviewerError


class FakeOrt:
    def __init__(self, providers: list[str]) -> None:
        self.providers = providers

    def get_available_providers(self) -> list[str]:
        return self.providers


@pytest.mark.parametrize(("available", "requested", "expected"), [
    (["CPUExecutionProvider"], "cpu", ["CPUExecutionProvider"]),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], "cpu", ["CPUExecutionProvider"]),
    (["CPUExecutionProvider"], "auto", ["CPUExecutionProvider"]),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], "auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]),
])
def test_providers_for_each_device(monkeypatch: pytest.MonkeyPatch, available: list[str], requested: str,
                                   expected: list[str]) -> None:
    monkeypatch.setattr(onnx_backend, "_ort", lambda: FakeOrt(available))
    assert onnx_backend.resolve_providers(requested) == expected


def test_cuda_without_a_cuda_provider_and_unknown_devices_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_backend, "_ort", lambda: FakeOrt(["CPUExecutionProvider", "OpenVINOExecutionProvider"]))
    with pytest.raises(SlotviewerError, match=r"device 'cuda' requested, but this onnxruntime has no CUDA provider "
                                              r"\(available: CPUExecutionProvider, OpenVINOExecutionProvider\); "
                                              r"install slotviewer\[gpu\]"):
        onnx_backend.resolve_providers("cuda")
    with pytest.raises(SlotviewerError, match="unknown device 'tpu'; use auto, cpu or cuda"):
        onnx_backend.resolve_providers("tpu")


def test_the_device_reported_is_the_provider_that_runs(onnx_engine: Engine) -> None:
    backend = onnx_engine.backend
    assert backend.providers == backend.full.get_providers() and backend.device == "CPUExecutionProvider"
    assert onnx_engine.description.endswith("ONNX Runtime · CPUExecutionProvider")


def copy_model(tiny_model: Path, folder: Path, suffixes: tuple[str, ...]) -> Path:
    for suffix in suffixes:
        shutil.copy(str(tiny_model) + suffix, str(folder / "copy") + suffix)
    return folder / "copy.onnx"


@pytest.mark.parametrize("graph", ["encoder", "decoder", "step"])
def test_a_graph_from_other_weights_is_refused(tiny_model: Path, tmp_path: Path, graph: str) -> None:
    """A set mixed by hand, or by an export interrupted after its first graph: the decoder and step graphs
    are checked as the encoder was (a mixed set ran silently)."""
    path = copy_model(tiny_model, tmp_path, (".onnx", ".decoder.onnx", ".step.onnx", ".encoder.onnx"))
    proto = onnx.load(str(tmp_path / f"copy.{graph}.onnx"))
    for prop in proto.metadata_props:
        if prop.key == "slotviewer.model_sha256":
            prop.value = "0" * 64
    onnx.save(proto, str(tmp_path / f"copy.{graph}.onnx"))
    with pytest.raises(ModelFileError, match=rf"copy\.{graph}\.onnx: exported from other weights than copy\.onnx; "
                                             "export the model again"):
        Engine.load(path, "onnx", "cpu")


def test_without_a_step_graph_the_exported_iterations_still_run(tiny_model: Path, tmp_path: Path,
                                                                scene: np.ndarray, onnx_engine: Engine) -> None:
    engine = Engine.load(copy_model(tiny_model, tmp_path, (".onnx", ".decoder.onnx")), "onnx", "cpu")
    assert engine.backend.step is None and engine.backend.encoder is None
    t = engine.backend.exported_iters
    trace = engine.run(scene, seed=1, iters=t)
    np.testing.assert_allclose(trace.alpha_logits, onnx_engine.run(scene, seed=1, iters=t).alpha_logits, atol=1e-5)
    assert engine.run(scene, seed=1, iters=t - 1).iterations == t - 1, "fewer iterations need no step graph"
    with pytest.raises(SlotviewerError, match=r"copy: this ONNX model has no \.step\.onnx graph"):
        engine.run(scene, seed=1, iters=t + 1)


def test_fewer_and_more_iterations_than_exported_match_torch(onnx_engine: Engine, torch_engine: Engine,
                                                              scene: np.ndarray) -> None:
    t = onnx_engine.backend.exported_iters
    for iters in (0, 1, t - 1, t, t + 2):
        a, b = onnx_engine.run(scene, seed=4, iters=iters), torch_engine.run(scene, seed=4, iters=iters)
        assert a.iterations == iters and a.slots.shape[0] == iters + 1
        np.testing.assert_allclose(a.slots, b.slots, atol=1e-4)
        np.testing.assert_allclose(a.alpha_logits, b.alpha_logits, atol=1e-3)
        np.testing.assert_allclose(a.rgb, b.rgb, atol=1e-4)


def test_the_config_comes_from_the_graph_or_the_json_beside_it(tiny_model: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_model, tmp_path, (".onnx", ".decoder.onnx", ".step.onnx"))
    for suffix in (".onnx", ".decoder.onnx", ".step.onnx"):  # graphs without the config metadata
        proto = onnx.load(str(tmp_path / "copy") + suffix)
        kept = [p for p in proto.metadata_props if p.key != "slotviewer.config"]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        onnx.save(proto, str(tmp_path / "copy") + suffix)
    with pytest.raises(ModelFileError, match=r"copy\.onnx: no 'slotviewer\.config' metadata and no copy\.json"):
        Engine.load(path, "onnx", "cpu")
    shutil.copy(tiny_model.with_suffix(".json"), tmp_path / "copy.json")
    engine = Engine.load(path, "onnx", "cpu")
    assert engine.config.to_dict() == json.loads(tiny_model.with_suffix(".json").read_text())["config"]


def test_invalid_config_metadata_is_one_clear_error(tiny_model: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_model, tmp_path, (".onnx", ".decoder.onnx"))
    proto = onnx.load(str(path))
    for prop in proto.metadata_props:
        if prop.key == "slotviewer.config":
            prop.value = json.dumps({"resolution": "big"})
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError, match=r"copy\.onnx: invalid slotviewer\.config metadata"):
        Engine.load(path, "onnx", "cpu")


def test_onnx_graphs_take_float64_and_zero_iterations(onnx_engine: Engine, scene: np.ndarray) -> None:
    backend = onnx_engine.backend
    trace = onnx_engine.run(scene, seed=2)
    slots = trace.slots[-1][None]
    np.testing.assert_allclose(backend.decode(slots.astype(np.float64))[0], backend.decode(slots)[0], atol=1e-6)
    features, keys = trace.features[None], trace.key_features[None]
    a64, s64 = backend.iterate(features.astype(np.float64), slots.astype(np.float64), 1, keys.astype(np.float64))
    a32, s32 = backend.iterate(features, slots, 1, keys)
    np.testing.assert_allclose(a64, a32, atol=1e-6)
    np.testing.assert_allclose(s64, s32, atol=1e-6)
    image = np.random.default_rng(0).random((1, 3, onnx_engine.config.resolution, onnx_engine.config.resolution))
    np.testing.assert_allclose(backend.encode(image)[0], backend.encode(image.astype(np.float32))[0], atol=1e-5)
    none, history = backend.iterate(features, slots, 0, keys)
    n = features.shape[1]
    assert none.shape == (0, 1, trace.num_slots, n) and none.dtype == np.float32 and history.shape[0] == 1


def test_the_missing_step_graph_message_says_what_cannot_be_done(tiny_model: Path, tmp_path: Path,
                                                                  scene: np.ndarray) -> None:
    engine = Engine.load(copy_model(tiny_model, tmp_path, (".onnx", ".decoder.onnx")), "onnx", "cpu")
    trace = engine.run(scene, seed=1)
    with pytest.raises(SlotviewerError, match=r"^copy: this ONNX model has no \.step\.onnx graph, so it cannot run "
                                              r"extra iterations or re-converge$"):
        engine.iterate(trace.features, trace.slots[-1], 1)

"""How the ONNX backend opens its graphs: every session gets the providers asked for and quiet logging,
a CUDA request that ORT quietly serves on the CPU is refused, ORT's own load errors become one line, a
missing onnxruntime is a clear error, and a static iteration count comes from the graph, not the config."""

import json
import sys
from pathlib import Path

import onnx
import onnxruntime
import pytest

from slotviewer.engine import Engine, onnx_backend
from slotviewer.engine.onnx_backend import OnnxBackend
from slotviewer.errors import ModelFileError, SlotviewerError
from slotviewer.model.files import file_sha256


class RecordingOrt:
    """The real onnxruntime, claiming `available` providers and recording how each session is opened."""

    SessionOptions = onnxruntime.SessionOptions

    def __init__(self, available: list[str], fail_with: Exception | None = None) -> None:
        self.available, self.fail_with = available, fail_with
        self.opened: list[tuple[str, int, list[str] | None]] = []

    def get_available_providers(self) -> list[str]:
        return self.available

    def InferenceSession(self, path: str, options: onnxruntime.SessionOptions,  # noqa: N802  (ORT's name)
                         providers: list[str] | None = None) -> onnxruntime.InferenceSession:
        self.opened.append((Path(path).name, options.log_severity_level, providers))
        if self.fail_with is not None:
            raise self.fail_with
        return onnxruntime.InferenceSession(path, options, providers=providers)


def test_every_graph_is_opened_with_the_providers_asked_for_and_quiet_logs(monkeypatch: pytest.MonkeyPatch,
                                                                          tiny_model: Path) -> None:
    ort = RecordingOrt(["CPUExecutionProvider"])
    monkeypatch.setattr(onnx_backend, "_ort", lambda: ort)
    OnnxBackend(tiny_model.with_suffix(".onnx"), "cpu")
    assert sorted(ort.opened) == sorted((f"tiny{suffix}", 3, ["CPUExecutionProvider"])
                                        for suffix in (".onnx", ".decoder.onnx", ".step.onnx", ".encoder.onnx"))


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available")
def test_cuda_served_on_the_cpu_is_refused_but_auto_accepts_it(monkeypatch: pytest.MonkeyPatch,
                                                             tiny_model: Path) -> None:
    """This onnxruntime has no CUDA; told it has, it is asked for CUDA and runs on the CPU without a word."""
    ort = RecordingOrt(["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnx_backend, "_ort", lambda: ort)
    with pytest.raises(SlotviewerError, match=r"^\S*tiny\.onnx: CUDA requested but ONNX Runtime fell back to "
                                              r"CPUExecutionProvider \(CUDA libraries missing\?\)$"):
        OnnxBackend(tiny_model.with_suffix(".onnx"), "cuda")
    assert ort.opened[0][2] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    backend = OnnxBackend(tiny_model.with_suffix(".onnx"), "auto")
    assert backend.device == "CPUExecutionProvider" and backend.providers == ["CPUExecutionProvider"]


@pytest.mark.parametrize(("error", "shown"), [
    (RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : bad bytes\nsecond line"),
     r"\(\[ONNXRuntimeError\] : 7 : INVALID_PROTOBUF : bad bytes\)"),
    (RuntimeError("  \n "), r"\(RuntimeError\)"),
    (ValueError("x" * 300), r"\(" + "x" * 200 + r"\)"),
])
def test_a_graph_ort_cannot_load_is_one_line_with_its_first_words(monkeypatch: pytest.MonkeyPatch, tiny_model: Path,
                                                                  error: Exception, shown: str) -> None:
    monkeypatch.setattr(onnx_backend, "_ort", lambda: RecordingOrt(["CPUExecutionProvider"], fail_with=error))
    with pytest.raises(ModelFileError, match=r"^\S*tiny\.onnx: not a loadable ONNX model " + shown + "$"):
        OnnxBackend(tiny_model.with_suffix(".onnx"), "cpu")


def test_without_onnxruntime_the_backend_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with pytest.raises(SlotviewerError, match=r"^the ONNX backend needs onnxruntime: pip install -e '\.\[cpu\]' in the "
                                              r"slotviewer repository \(or gpu for onnxruntime-gpu\)$"):
        onnx_backend._ort()


def test_loaded_by_its_onnx_path_the_backend_finds_every_graph_and_names_the_file(tiny_model: Path) -> None:
    path = tiny_model.with_suffix(".onnx")
    backend = Engine.load(path, "onnx", "cpu").backend
    assert backend.encoder is not None and backend.step is not None, "the optional graphs beside it are found"
    assert backend.model_name == "tiny" and backend.model_path == path
    weights = file_sha256(tiny_model.with_suffix(".safetensors"))
    assert backend.graph_sha256 == file_sha256(path) and backend.model_sha256 == weights, "as torch reports it"
    assert Engine.load(tiny_model, "torch", "cpu").provenance()["model_sha256"] == weights
    assert onnx_backend.onnx_paths(path) == (path, tiny_model.with_suffix(".decoder.onnx"),
                                             tiny_model.with_suffix(".step.onnx"))


def test_the_iteration_count_a_graph_was_exported_with_comes_from_the_graph(tiny_model: Path, tmp_path: Path) -> None:
    for suffix in (".onnx", ".decoder.onnx", ".step.onnx", ".encoder.onnx"):
        proto = onnx.load(str(tiny_model) + suffix)
        for prop in proto.metadata_props:
            if prop.key == "slotviewer.config":
                config = json.loads(prop.value)
                exported, config["iters"] = config["iters"], config["iters"] + 2
                prop.value = json.dumps(config)
        onnx.save(proto, str(tmp_path / "tiny") + suffix)
    backend = OnnxBackend(tmp_path / "tiny.onnx", "cpu")
    assert backend.config.iters == exported + 2 and backend.exported_iters == exported

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from slotviewer.data.moving_shapes import MovingShapes
from slotviewer.engine import Engine
from slotviewer.errors import ModelFileError, SlotviewerError
from slotviewer.video import CarryOver, FrameRunner


def test_exported_graphs_have_dynamic_batch(onnx_engine: Engine, torch_engine: Engine) -> None:
    """Three different images with different noise in one batch: each result is that image's own."""
    from slotviewer.data import generate
    from slotviewer.engine.engine import slot_noise
    from slotviewer.engine.preprocess import model_input

    cfg = onnx_engine.config
    images = generate("tetrominoes", 3, seed=21)[0]
    batch = np.stack([model_input(image, cfg.resolution)[0] for image in images])
    noise = slot_noise(5, 3, cfg.num_slots, cfg.slot_dim)
    out = onnx_engine.backend.forward(batch, noise, cfg.iters)
    assert out.attention.shape[1] == 3 and out.rgb.shape[0] == 3
    assert np.abs(out.rgb[0] - out.rgb[1]).max() > 0.05, "the three images decode differently"
    assert np.abs(out.attention[:, 1] - out.attention[:, 2]).max() > 0.05
    for i in range(3):
        single = onnx_engine.backend.forward(batch[i : i + 1], noise[i : i + 1], cfg.iters)
        np.testing.assert_allclose(out.rgb[i], single.rgb[0], atol=1e-5)
        np.testing.assert_allclose(out.attention[:, i], single.attention[:, 0], atol=1e-5)
        np.testing.assert_allclose(out.slots[:, i], single.slots[:, 0], atol=1e-5)
        reference = torch_engine.backend.forward(batch[i : i + 1], noise[i : i + 1], cfg.iters)
        np.testing.assert_allclose(out.alpha_logits[i], reference.alpha_logits[0], atol=1e-3)
    decoded_rgb, _ = onnx_engine.backend.decode(out.slots[-1])  # the decoder graph batches too
    np.testing.assert_allclose(decoded_rgb, out.rgb, atol=1e-5)


def test_graph_metadata_carries_the_config(tiny_model: Path, onnx_engine: Engine) -> None:
    """Every graph carries the model's own config, the sha256 of the weights it came from and the name."""
    import json

    from slotviewer.model.files import file_sha256

    saved = json.loads(tiny_model.with_suffix(".json").read_text())["config"]
    for suffix in (".onnx", ".decoder.onnx", ".step.onnx"):
        meta = {p.key: p.value for p in onnx.load(str(tiny_model) + suffix).metadata_props}
        assert json.loads(meta["slotviewer.config"]) == saved, suffix
        assert meta["slotviewer.model_sha256"] == file_sha256(tiny_model.with_suffix(".safetensors")), suffix
        assert meta["slotviewer.name"] == "tiny", suffix
    assert onnx_engine.config.to_dict() == saved


def _write_unrelated_model(path: Path) -> None:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_a_model_outside_the_contract_is_refused_with_what_was_expected(tmp_path: Path) -> None:
    _write_unrelated_model(tmp_path / "other.onnx")
    with pytest.raises(ModelFileError, match=r"other\.onnx: inputs do not fit the slotviewer ONNX contract: "
                                             r"expected image \(rank 4\), noise \(rank 3\); got input \(rank 2\) "
                                             r"\(graphs from an older slotviewer: export them again"):
        Engine.load(tmp_path / "other.onnx", "onnx")


def test_corrupt_and_missing_onnx_files(tmp_path: Path, tiny_model: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"this is not protobuf" * 5)
    with pytest.raises(ModelFileError, match=r"bad\.onnx: not a loadable ONNX model"):
        Engine.load(tmp_path / "bad.onnx", "onnx")
    with pytest.raises(ModelFileError, match=r"gone\.onnx: no such file$"):
        Engine.load(tmp_path / "gone.onnx", "onnx")
    # a full graph without its decoder cannot do surgery: refuse it up front
    (tmp_path / "nodec.onnx").write_bytes(tiny_model.with_suffix(".onnx").read_bytes())
    with pytest.raises(ModelFileError, match=r"nodec\.decoder\.onnx: ONNX graph not found"):
        Engine.load(tmp_path / "nodec.onnx", "onnx")
    # weights without graphs (a model just trained): the message says how to make them
    (tmp_path / "fresh.safetensors").write_bytes(b"weights")
    with pytest.raises(ModelFileError, match=r"fresh\.onnx: ONNX graph not found \(export it: slotviewer export-onnx "
                                             r"--model \S*fresh --out \S*fresh\.onnx; or --backend torch\)$"):
        Engine.load(tmp_path / "fresh.onnx", "onnx")


def test_graphs_exported_from_other_weights_than_those_beside_them_are_refused(tiny_model: Path,
                                                                              tmp_path: Path) -> None:
    """Weights written again (a new adapt or train into the same stem, without a new export): the graphs
    would silently run the old model under the new one's name."""
    import shutil

    for path in tiny_model.parent.glob(tiny_model.name + ".*"):
        shutil.copy(path, tmp_path / path.name)
    stem = tmp_path / tiny_model.name
    Engine.load(stem.with_suffix(".onnx"), "onnx")  # as exported: fine
    weights = stem.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes() + b" ")  # other bytes: other weights
    with pytest.raises(ModelFileError, match=r"\.onnx: exported from other weights than the \S+\.safetensors beside "
                                             r"it \(export it again: slotviewer export-onnx"):
        Engine.load(stem.with_suffix(".onnx"), "onnx")


def test_onnx_backend_and_cli_work_without_torch(tiny_model: Path, tmp_path: Path) -> None:
    """The packaged app ships without torch: the ONNX path must never import it."""
    from PIL import Image

    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(tmp_path / "in.png")
    script = textwrap.dedent(f"""
        import sys
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, NoTorch())
        from slotviewer.cli import main
        code = main(["run", {str(tmp_path / "in.png")!r}, "--out", {str(tmp_path / "out")!r},
                     "--backend", "onnx", "--model", {str(tiny_model.with_suffix(".onnx"))!r}, "--seed", "1",
                     "--remove", "0", "--reconverge", "1"])
        assert "torch" not in sys.modules
        sys.exit(code)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "in" / "labels.png").exists()


def test_static_dimensions_must_match_the_config(tiny_model: Path, tmp_path: Path) -> None:
    import json

    for suffix in (".onnx", ".decoder.onnx", ".step.onnx"):
        proto = onnx.load(str(tiny_model) + suffix)
        for prop in proto.metadata_props:
            if prop.key == "slotviewer.config":
                config = json.loads(prop.value)
                config["slot_dim"] = 32
                prop.value = json.dumps(config)
        onnx.save(proto, str(tmp_path / "wrong") + suffix)
    with pytest.raises(ModelFileError, match=r"'noise' has 16 on axis 2; the model config expects 32 \(slot size 32\)"):
        Engine.load(tmp_path / "wrong.onnx", "onnx")


# exporting to a dotted stem (mine.v2.onnx, …): tests/test_cli_commands.py, through `slotviewer export-onnx`


@pytest.mark.slow  # an ONNX export: seconds
def test_exported_learned_queries_jitter_their_draws_like_torch(tmp_path: Path, scene: np.ndarray) -> None:
    import dataclasses

    import torch

    from slotviewer.engine.onnx_export import export_onnx
    from slotviewer.model.weights import save_model
    from tests.fixtures import colourful_config, colourful_model
    from tests.test_train import TINY_TETROMINOES

    torch.manual_seed(0)
    cfg = colourful_config(dataclasses.replace(TINY_TETROMINOES, slot_init="learned", implicit=True, query_noise=0.5,
                                               draws=3))
    save_model(colourful_model(cfg), tmp_path / "jitter")
    export_onnx(tmp_path / "jitter", tmp_path / "jitter")
    a, b = (Engine.load(tmp_path / "jitter", backend, "cpu") for backend in ("torch", "onnx"))
    assert b.config.query_noise == 0.5 and b.config.draws == 3
    for seed in range(3):
        ta, tb = a.run(scene, seed=seed), b.run(scene, seed=seed)
        assert ta.provenance["draw"] == tb.provenance["draw"]
        assert np.abs(ta.slots - tb.slots).max() <= 1e-4 and np.abs(ta.composite() - tb.composite()).max() <= 1e-4
    starts = {tuple(b.run(scene, seed=s, draws=2).slots[0].ravel().round(4)) for s in range(4)}
    assert len(starts) > 1, "the draws after the first are jittered, so seeds differ"


def test_a_step_graph_from_before_the_attention_bias_still_iterates(legacy_step_onnx: Path, onnx_engine: Engine,
                                                                     scene: np.ndarray) -> None:
    old = Engine.load(legacy_step_onnx, "onnx", "cpu")
    assert not old.takes_attention_bias and onnx_engine.takes_attention_bias
    start = onnx_engine.run(scene, seed=4).slots[-1]
    a, b = old.run(scene, init_slots=start, iters=2), onnx_engine.run(scene, init_slots=start, iters=2)
    assert np.abs(a.attention - b.attention).max() < 1e-5
    f = old.config.feature_size
    with pytest.raises(SlotviewerError, match=r"old\.step\.onnx: this step graph has no attention_bias input .* "
                                              "export the model again"):
        old.run(scene, init_slots=start, iters=1, attention_bias=np.zeros((len(start), f, f)))


def test_video_runs_without_the_mask_prior_on_an_old_step_graph_and_says_so(legacy_step_onnx: Path) -> None:
    old = Engine.load(legacy_step_onnx, "onnx", "cpu")
    runner = FrameRunner(old, CarryOver(True, 1))
    frames = [runner.run(MovingShapes(seed=0).frame(i)[0]) for i in range(3)]
    assert frames[-1].provenance["init"] == "carried" and runner.mask_prior_weight == 0.0
    settings = runner.settings()
    assert settings["mask_prior"] == 0.0 and "export the model again" in settings["mask_prior_unavailable"]
    off = CarryOver(True, 1, mask_prior=0.0)
    assert FrameRunner(old, off).settings() == off.as_dict()  # nothing asked, nothing missing


def test_an_export_in_its_own_process_reports_a_failure_in_one_line(tmp_path: Path) -> None:
    """The live view's *Learn this scene* exports from a background thread through a child process (torch's
    tracer deadlocked with the GUI thread's garbage collector once); its failures must still read as one line."""
    from slotviewer.engine.onnx_export import export_onnx_apart
    from slotviewer.errors import SlotviewerError

    said = r"x: ONNX export failed \(.*nope\.safetensors: no such file\)"
    with pytest.raises(SlotviewerError, match=said):
        export_onnx_apart(tmp_path / "nope.safetensors", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_an_export_in_its_own_process_stops_when_asked(tiny_model: Path, tmp_path: Path) -> None:
    """The app's Adapt cancels an export that takes seconds: the process is killed, no graph is written."""
    import time

    from slotviewer.engine.onnx_export import export_onnx_apart

    started = time.monotonic()
    assert export_onnx_apart(tiny_model.with_suffix(".safetensors"), tmp_path / "x",
                             stop=lambda: time.monotonic() - started > 0.3) is False
    assert not list(tmp_path.glob("x*.onnx"))


def test_an_export_in_its_own_process_that_hangs_is_stopped_in_one_line(tiny_model: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A stuck export (a deadlocked child) is killed after EXPORT_TIMEOUT instead of being waited on forever."""
    from slotviewer.engine import onnx_export
    from slotviewer.errors import SlotviewerError

    monkeypatch.setattr(onnx_export, "EXPORT_TIMEOUT", 0.3)
    with pytest.raises(SlotviewerError, match=r"x: ONNX export took over 0\.3 s and was stopped"):
        onnx_export.export_onnx_apart(tiny_model.with_suffix(".safetensors"), tmp_path / "x")
    assert not list(tmp_path.glob("x*.onnx"))


def test_an_export_stops_tqdms_monitor_thread() -> None:
    """torch's exporter draws a tqdm bar; tqdm's monitor thread would then run Python beside the tracer."""
    import tqdm

    from slotviewer.engine.onnx_export import _no_tqdm_monitor

    with open(os.devnull, "w") as sink:
        with tqdm.tqdm(total=1, file=sink):
            pass
        _no_tqdm_monitor()
        assert tqdm.tqdm.monitor is None and tqdm.tqdm.monitor_interval == 0
        with tqdm.tqdm(total=1, file=sink):
            pass
    assert tqdm.tqdm.monitor is None, "no new monitor either"

import numpy as np
import pytest

from slotviewer.data import generate
from slotviewer.engine import Engine, surgery
from slotviewer.engine.engine import draws_noise
from slotviewer.engine.familiarity import reconstruction_mse
from slotviewer.engine.preprocess import model_input
from slotviewer.engine.trace import composite
from slotviewer.errors import SlotviewerError


def test_trace_shapes_and_provenance(engine: Engine, scene: np.ndarray) -> None:
    trace = engine.run(scene, seed=4)
    cfg = engine.config
    f, r = cfg.feature_size, cfg.resolution
    assert trace.attention.shape == (cfg.iters, cfg.num_slots, f, f)
    assert trace.slots.shape == (cfg.iters + 1, cfg.num_slots, cfg.slot_dim)
    assert trace.rgb.shape == (cfg.num_slots, r, r, 3) and trace.alpha_logits.shape == (cfg.num_slots, r, r)
    assert trace.composite().shape == (r, r, 3)
    np.testing.assert_allclose(trace.attention.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(trace.image, scene)
    # what the posterior labels compare the slots' colours with: the model's input, at the model's size
    np.testing.assert_array_equal(trace.target, model_input(scene, r)[0].transpose(1, 2, 0))
    carried = engine.run(scene, init_slots=trace.slots[-1], iters=1)
    np.testing.assert_array_equal(carried.target, trace.target)
    p = trace.provenance
    assert p["backend"] == engine.backend.name and p["seed"] == 4 and p["K"] == cfg.num_slots
    assert p["method"] == "slot-attention" and len(p["model_sha256"]) == 64
    assert trace.timings_ms["total"] > 0


def test_seed_reproduces_and_unseeded_runs_record_their_seed(engine: Engine, scene: np.ndarray) -> None:
    a, b = engine.run(scene, seed=9), engine.run(scene, seed=9)
    np.testing.assert_array_equal(a.attention, b.attention)
    c = engine.run(scene)
    d = engine.run(scene, seed=c.provenance["seed"])
    np.testing.assert_array_equal(c.slots, d.slots)


def test_slots_and_iterations_at_inference(engine: Engine, scene: np.ndarray) -> None:
    for k, t in [(2, 1), (5, 5), (3, 0)]:
        trace = engine.run(scene, slots=k, iters=t, seed=1)
        assert trace.attention.shape[:2] == (t, k) and trace.slots.shape[:2] == (t + 1, k)
        # T=0 decodes slots that have not seen the image: its error says nothing about the image's familiarity
        assert ("familiarity" in trace.provenance) == (t > 0)


def test_earlier_iterations_are_a_prefix_of_later_ones(engine: Engine, scene: np.ndarray) -> None:
    long, short = engine.run(scene, iters=5, seed=2), engine.run(scene, iters=2, seed=2)
    np.testing.assert_allclose(long.slots[:3], short.slots, atol=1e-5)


def test_torch_and_onnx_agree(torch_engine: Engine, onnx_engine: Engine, scene: np.ndarray) -> None:
    for iters in (None, 1, 5):  # 5 is past the exported graph: the ONNX step graph runs the rest
        a, b = torch_engine.run(scene, seed=3, iters=iters), onnx_engine.run(scene, seed=3, iters=iters)
        assert np.abs(a.attention - b.attention).max() <= 1e-4
        assert np.abs(a.composite() - b.composite()).max() <= 1e-4
    a, b = (surgery.reconverge(e, surgery.remove(e.run(scene, seed=3), [0]), iters=2)
            for e in (torch_engine, onnx_engine))
    assert np.abs(a.attention - b.attention).max() <= 1e-4


def test_traces_keep_the_key_features_apart(engine: Engine, scene: np.ndarray) -> None:
    """The test model damps position in its keys: re-converge must iterate on those, not on the values'."""
    trace = engine.run(scene, seed=5)
    assert trace.key_features.shape == trace.features.shape
    assert np.abs(trace.key_features - trace.features).max() > 1e-3
    removed = surgery.remove(trace, [1])
    right = surgery.reconverge(engine, removed, iters=1)
    wrong = surgery.reconverge(engine, removed.replace(key_features=None), iters=1)
    assert np.abs(right.attention - wrong.attention).max() > 1e-4


@pytest.mark.parametrize("image", [
    np.zeros((1, 1, 3), np.uint8),
    np.full((7, 300), 40000, np.uint16),
    np.random.default_rng(0).random((50, 20, 4)).astype(np.float32),
    np.ones((64, 64), bool),
])
def test_odd_images(engine: Engine, image: np.ndarray) -> None:
    trace = engine.run(image, seed=0)
    assert trace.image.shape[:2] == image.shape[:2] and trace.image.dtype == np.uint8


def test_bad_arguments_are_clear(engine: Engine, scene: np.ndarray) -> None:
    with pytest.raises(SlotviewerError, match="unknown method"):
        engine.run(scene, method="dbscan")  # type: ignore[arg-type]
    with pytest.raises(SlotviewerError, match="number of slots"):
        engine.run(scene, slots=0)
    with pytest.raises(SlotviewerError, match="empty image"):
        engine.run(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(SlotviewerError, match="unknown backend"):
        Engine.load("shapes", "tensorflow")


@pytest.mark.parametrize("method", ["soft-kmeans", "kmeans"])
def test_kmeans_traces_have_the_same_shape(engine: Engine, scene: np.ndarray, method: str) -> None:
    sa = engine.run(scene, seed=0)
    km = engine.run(scene, seed=0, method=method)
    assert km.attention.shape == sa.attention.shape and km.rgb.shape == sa.rgb.shape
    np.testing.assert_allclose(km.attention.sum(axis=1), 1.0, atol=1e-5)
    assert km.provenance["method"] == method
    # one mean colour per cluster is no decoder's guess: k-means labels stay the clusters' own
    assert km.target is None and np.array_equal(km.labels(), km.labels(by="alpha"))
    if method == "kmeans":
        assert set(np.unique(km.attention)) <= {0.0, 1.0}


def test_requesting_cuda_without_gpu_is_said_plainly(scene: np.ndarray, tiny_model) -> None:  # noqa: ANN001
    import onnxruntime
    import torch

    if torch.cuda.is_available() or "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA; the test is about machines without it")
    for backend, path in (("torch", tiny_model), ("onnx", tiny_model.with_suffix(".onnx"))):
        with pytest.raises(SlotviewerError, match="'cuda' requested"):
            Engine.load(path, backend, "cuda")


def test_torch_backend_says_what_runs_and_takes_any_float_input(torch_engine: Engine, tiny_model) -> None:  # noqa: ANN001
    import re

    import torch

    from slotviewer.engine.engine import slot_noise
    from slotviewer.model.files import file_sha256

    backend = torch_engine.backend  # (the thread count is the one when it was loaded; other tests change it)
    assert re.fullmatch(r"cpu \(\d+ threads\)", backend.device) and backend.torch_device.type == "cpu"
    assert backend.model_name == "tiny" and backend.model_sha256 == file_sha256(tiny_model.with_suffix(".safetensors"))
    assert torch_engine.description == f"tiny · PyTorch · {backend.device}"
    fresh = Engine.load(tiny_model, "torch", "cpu").backend
    assert fresh.device == f"cpu ({torch.get_num_threads()} threads)"
    cfg = torch_engine.config
    images = np.random.default_rng(0).random((1, 3, cfg.resolution, cfg.resolution))  # float64
    noise = slot_noise(1, 1, cfg.num_slots, cfg.slot_dim)
    a = backend.forward(images, noise.astype(np.float64), 2)
    b = backend.forward(images.astype(np.float32), noise, 2)
    assert a.rgb.dtype == np.float32
    np.testing.assert_allclose(a.rgb, b.rgb, atol=1e-6)


def test_draws_keep_the_draw_that_reconstructs_the_image_best(engine: Engine, scene: np.ndarray) -> None:
    cfg = engine.config
    x, _ = model_input(scene, cfg.resolution)
    noise = draws_noise(6, 5, cfg.num_slots, cfg.slot_dim, learned=False)
    forwards = [engine.backend.forward(x[None], noise[d : d + 1], cfg.iters) for d in range(5)]
    errors = [reconstruction_mse(x, composite(f.rgb[0].transpose(0, 2, 3, 1), f.alpha_logits[0])) for f in forwards]
    trace = engine.run(scene, seed=6, draws=5)
    assert trace.provenance["draws"] == 5 and trace.provenance["draw"] == int(np.argmin(errors))
    assert trace.provenance["familiarity"]["reconstruction_mse"] == pytest.approx(min(errors), abs=1e-6)
    one = engine.run(scene, seed=6, draws=1)  # one draw is draw 0 of the same seed: earlier runs repeat
    assert one.provenance["draw"] == 0
    assert one.provenance["familiarity"]["reconstruction_mse"] == pytest.approx(errors[0], abs=1e-6)
    assert engine.run(scene, seed=6).provenance["draws"] == cfg.draws  # default: the model's


def test_draws_agree_across_backends(torch_engine: Engine, onnx_engine: Engine, scene: np.ndarray) -> None:
    a, b = torch_engine.run(scene, seed=8, draws=4), onnx_engine.run(scene, seed=8, draws=4)
    assert a.provenance["draw"] == b.provenance["draw"]
    assert np.abs(a.composite() - b.composite()).max() <= 1e-4


@pytest.mark.parametrize("draws", [0, 65])
def test_draws_out_of_range_are_one_line_errors(engine: Engine, scene: np.ndarray, draws: int) -> None:
    with pytest.raises(SlotviewerError, match=r"draws must be 1\.\.64, got"):
        engine.run(scene, draws=draws)


def test_learned_queries_start_every_single_draw_and_jitter_the_others() -> None:
    engine = Engine.load("tetrominoes", "onnx", "cpu")  # shipped: learned queries, query noise on
    assert engine.config.query_noise > 0
    image = generate("tetrominoes", 1, seed=3)[0][0]
    a, b = engine.run(image, seed=1, draws=1), engine.run(image, seed=2, draws=1)
    np.testing.assert_array_equal(a.slots[0], b.slots[0])  # the queries themselves, whatever the seed
    c = engine.run(image, seed=1, draws=4)
    # draw 0 of the four is the single draw (batched, so equal to float rounding)
    assert c.provenance["familiarity"]["reconstruction_mse"] <= a.provenance["familiarity"]["reconstruction_mse"] + 2e-6
    x, _ = model_input(image, engine.config.resolution)
    noise = draws_noise(1, 2, engine.config.num_slots, engine.config.slot_dim, learned=True)
    start = engine.backend.forward(np.repeat(x[None], 2, axis=0), noise, 1).slots[0]
    np.testing.assert_allclose(start[0], a.slots[0], atol=1e-6)
    np.testing.assert_allclose(start[1] - start[0], engine.config.query_noise * noise[1], atol=1e-5)

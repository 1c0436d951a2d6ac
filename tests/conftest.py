"""Test setup: Qt must run offscreen (no display here or in CI), set before anything imports Qt."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses  # noqa: E402
import faulthandler  # noqa: E402
import gc  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from slotviewer.data import generate  # noqa: E402
from slotviewer.engine import Engine  # noqa: E402
from slotviewer.engine.onnx_export import export_onnx  # noqa: E402
from slotviewer.model.weights import save_model  # noqa: E402
from tests.fixtures import (  # noqa: E402
    cached_build,
    colourful_config,
    colourful_model,
    legacy_step_model,
    model_cache_key,
)
from tests.test_train import TINY_TETROMINOES  # noqa: E402

# A test that hangs (a deadlock between threads, possibly with the GIL held, where no Python-level timeout
# can run) would otherwise run until CI's own limit and say nothing. faulthandler's C watchdog writes every
# thread's stack to HANG_LOG (one file per pytest process: two runs side by side keep their own) and ends the
# run after HANG_SECONDS of one test; .ci/test prints the file when it holds stacks.
HANG_SECONDS = float(os.environ.get("SLOTVIEWER_HANG_SECONDS", 600))
HANG_LOG = Path(os.environ.get("SLOTVIEWER_HANG_LOG")
                or Path(__file__).resolve().parents[1] / f".pytest-hang.{os.getpid()}.log")


# Reference cycles are collected on the main thread only, as the app does (gui.app.collect_garbage_on_gui_thread:
# a collection that a worker thread triggers frees Qt objects off the GUI thread, and one during an ONNX export
# deadlocks with torch's tracer): automatic collection is off for the session, each test ends with a collection
# (a full one every FULL_COLLECTION_EVERY tests), and the GUI tests' event loops run the app's timer too.
gc.disable()
FULL_COLLECTION_EVERY = 20
_tests_run = 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ANN201 (a hook wrapper)
    global _tests_run
    with HANG_LOG.open("w") as log:
        log.write(f"{item.nodeid} started; stacks below only if it ran over {HANG_SECONDS:g} s:\n")
        log.flush()
        faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=log)
        try:
            yield
            _tests_run += 1
            gc.collect(2 if _tests_run % FULL_COLLECTION_EVERY == 0 else 1)
        finally:
            faulthandler.cancel_dump_traceback_later()
    HANG_LOG.unlink(missing_ok=True)

@pytest.fixture(scope="session", autouse=True)
def _temporary_files_under_basetemp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the code under test puts in the system's temporary folder (adapted copies the app keeps until
    quit, exports, recordings) goes under pytest's basetemp instead, which pytest prunes: a test window that
    never quits would otherwise leave its folders in /tmp for good."""
    folder = tmp_path_factory.mktemp("tmp")
    before = tempfile.tempdir
    tempfile.tempdir = str(folder)
    yield
    tempfile.tempdir = before


# The test model's config: tetrominoes-sized (35×35, K=3, T=3), Gaussian slots (so K can vary), keys that
# see the position at half weight (every engine test runs the separate key-features path; the shipped
# tetrominoes model covers keys = values), and a decoder wide enough for the constructed colourful weights.
TEST_CONFIG = colourful_config(dataclasses.replace(TINY_TETROMINOES, key_position_scale=0.5))


def _build_tiny_model(stem: Path) -> None:
    save_model(colourful_model(TEST_CONFIG), stem)
    export_onnx(stem, stem)


# The tiny model, saved and exported to ONNX. Its random encoder and Slot Attention are kept, its decoder is
# constructed (tests/fixtures.py): every slot decodes to its own colour and region, so every reconstruction
# and slot picture the tests compare has content, on the torch and the ONNX path alike.
# The ONNX export takes 5-30 s, so the files are cached in pytest's cache folder under a key made of the code
# that shapes them (model, export, fixture sources, torch/onnx versions), and copied into each session's own
# temporary folder (a test can never damage the cache). Mutation testing runs thousands of sessions.
@pytest.fixture(scope="session")
def tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    stem = tmp_path_factory.mktemp("models") / "tiny"
    cache = getattr(request.config, "cache", None)
    if cache is None:  # -p no:cacheprovider
        _build_tiny_model(stem)
        return stem
    cached = cached_build(Path(cache.mkdir("slotviewer-tiny-model")), model_cache_key(), "tiny", _build_tiny_model)
    for file in cached.parent.iterdir():
        if not file.name.startswith("."):
            shutil.copy2(file, stem.parent / file.name)
    return stem


@pytest.fixture(scope="session")
def legacy_step_onnx(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's ONNX graphs with a step graph from before the attention bias (one export per session)."""
    return legacy_step_model(tiny_model, tmp_path_factory.mktemp("legacy"))


@pytest.fixture(scope="session")
def torch_engine(tiny_model: Path) -> Engine:
    return Engine.load(tiny_model, "torch", "cpu")


@pytest.fixture(scope="session")
def onnx_engine(tiny_model: Path) -> Engine:
    return Engine.load(tiny_model.with_suffix(".onnx"), "onnx", "cpu")


@pytest.fixture(params=["torch", "onnx"])
def engine(request: pytest.FixtureRequest, torch_engine: Engine, onnx_engine: Engine) -> Engine:
    return torch_engine if request.param == "torch" else onnx_engine


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    return generate("tetrominoes", 1, seed=11)[0][0]

"""Atomic writes: whatever fails part-way, the target is either the old file/folder or the new one, never a
mix, and no temporary file or folder is left behind."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from slotviewer.engine import Engine
from slotviewer.io.atomic import atomic_path, write_bytes, write_text, write_with


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_success_replaces_the_file_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "out.txt"  # parents are created
    write_text(target, "première")
    assert target.read_text(encoding="utf-8") == "première"
    write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask, "not mkstemp's private 0600"
    assert leftovers(target.parent) == []


def test_a_writer_failing_part_way_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old and good")

    def half_then_fail(tmp: Path) -> None:
        assert tmp.parent == target.parent and tmp.name.startswith(".model.bin.")  # same folder: rename is atomic
        tmp.write_bytes(b"half of the ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_with(target, half_then_fail)
    assert target.read_bytes() == b"old and good"
    assert leftovers(tmp_path) == []


def test_a_failure_before_any_file_existed_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new.json") as tmp:
        tmp.write_text("{")
        raise KeyboardInterrupt  # Ctrl-C in the middle of a write
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_writes_nothing_still_produces_the_file(tmp_path: Path) -> None:
    write_with(tmp_path / "empty.bin", lambda tmp: None)
    assert (tmp_path / "empty.bin").read_bytes() == b""


# ---- whole output folders (slotviewer.export.write_trace) ---------------------------------------------------


@pytest.fixture
def trace(torch_engine: Engine, scene: np.ndarray):  # noqa: ANN201
    return torch_engine.run(scene, seed=1)


def test_every_result_gets_the_permissions_of_a_plain_new_file_or_folder(trace, tmp_path: Path) -> None:  # noqa: ANN001
    """Files made by a writer that creates them anew (safetensors does, at 0600), recordings and result
    folders (mkstemp/mkdtemp make 0600/0700) are readable as the umask says once renamed into place."""
    from slotviewer.export import write_trace
    from slotviewer.io.recorder import VideoRecorder

    old = os.umask(0o022)
    try:
        def private_writer(tmp: Path) -> None:
            tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"weights")
            os.close(fd)

        write_with(tmp_path / "m.safetensors", private_writer)
        recorder = VideoRecorder(tmp_path / "rec.avi", 10.0, (16, 16))
        recorder.write(np.zeros((16, 16, 3), np.uint8))
        recorder.close()
        folder = write_trace(trace, tmp_path / "run")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "rec.avi").stat().st_mode) == 0o644
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_trace_folder_failing_part_way_leaves_no_new_folder(trace, tmp_path: Path) -> None:  # noqa: ANN001
    from slotviewer.export import write_trace

    # every regular output is written before `files`; a name in a missing sub-folder fails at the very end
    with pytest.raises(OSError):
        write_trace(trace, tmp_path / "out", files={"missing/shot.png": b"x"})
    assert list(tmp_path.iterdir()) == [], "neither the result nor a temporary folder"


def test_trace_folder_failing_part_way_keeps_the_old_result(trace, tmp_path: Path) -> None:  # noqa: ANN001
    from slotviewer.export import write_trace

    write_trace(trace, tmp_path / "out", extra={"run": "first"})
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    with pytest.raises(OSError):
        write_trace(trace, tmp_path / "out", overwrite=True, extra={"run": "second"},
                    files={"missing/shot.png": b"x"})
    after = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    write_trace(trace, tmp_path / "out", overwrite=True, extra={"run": "second"})
    assert '"run": "second"' in (tmp_path / "out" / "trace.json").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "the old folder is gone after a good overwrite"


def test_trace_folder_failing_in_an_encoder_leaves_nothing(trace, tmp_path: Path,  # noqa: ANN001
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import slotviewer.export as export

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("encoder crashed")

    monkeypatch.setattr(export.np, "savez_compressed", broken)
    with pytest.raises(ValueError, match="encoder crashed"):
        export.write_trace(trace, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []

"""The recorder: nothing under the final name until closed, and closed on every exit path."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from slotviewer.io.recorder import RecordingError, VideoRecorder


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count


def frame(i: int) -> np.ndarray:
    return np.full((40, 60, 3), (i * 20) % 255, np.uint8)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_recording_appears_only_when_closed(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"rec{suffix}"
    recorder = VideoRecorder(target, 15, (40, 60))
    for i in range(8):
        recorder.write(frame(i))
    recorder.write(np.zeros((80, 120, 3), np.uint8))  # another size is scaled to the recording's
    assert not target.exists() and recorder.tmp_path.exists()
    assert recorder.close() == target
    assert frames_in(target) == 9 and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_an_error_inside_the_block_still_closes_the_recording(tmp_path: Path) -> None:
    target = tmp_path / "rec.mp4"
    with pytest.raises(RuntimeError), VideoRecorder(target, 15, (40, 60)) as recorder:
        for i in range(5):
            recorder.write(frame(i))
        raise RuntimeError("source failed")
    assert recorder.closed and frames_in(target) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]


def test_abort_and_empty_recordings_leave_nothing(tmp_path: Path) -> None:
    aborted = VideoRecorder(tmp_path / "a.mp4", 15, (40, 60))
    aborted.write(frame(0))
    aborted.abort()
    assert VideoRecorder(tmp_path / "b.avi", 15, (40, 60)).close() is None
    assert list(tmp_path.iterdir()) == []


def test_bad_targets_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot record to '.gif'"):
        VideoRecorder(tmp_path / "x.gif", 15, (40, 60))
    with pytest.raises(RecordingError, match=r"rec: has no extension to choose the format by \(use \.avi"):
        VideoRecorder(tmp_path / "rec", 15, (40, 60))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RecordingError, match="cannot write here"):
        VideoRecorder(blocker / "x.mp4", 15, (40, 60))
    recorder = VideoRecorder(tmp_path / "y.mp4", 15, (40, 60))
    recorder.close()
    with pytest.raises(RecordingError, match="already closed"):
        recorder.write(frame(0))


def test_a_vanished_file_is_reported_not_ignored(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "z.mp4", 15, (40, 60))
    recorder.tmp_path.unlink()  # as if the disk went away under it
    with pytest.raises(RecordingError, match="the file was removed while recording"):
        for i in range(64):
            recorder.write(frame(i))


def test_a_full_disk_stops_the_recording_and_keeps_what_was_written(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    from types import SimpleNamespace

    target = tmp_path / "full.avi"
    recorder = VideoRecorder(target, 15, (40, 60))
    monkeypatch.setattr(os, "statvfs", lambda _p: SimpleNamespace(f_bavail=10, f_frsize=4096))
    with pytest.raises(RecordingError, match="disk is full; the 64 frames so far were kept"):
        for i in range(64):
            recorder.write(frame(i))
    monkeypatch.undo()
    assert recorder.closed and frames_in(target) == 64


@pytest.mark.parametrize(("suffix", "fourccs"), [(".mp4", {"mp4v", "fmp4"}), (".avi", {"mjpg"}), (".mkv", {"mjpg"})])
def test_rate_size_colours_and_codec_are_what_was_asked(tmp_path: Path, suffix: str, fourccs: set[str]) -> None:
    target = tmp_path / f"c{suffix}"
    with VideoRecorder(target, 12, (48, 64)) as recorder:
        for _ in range(3):
            recorder.write(np.tile(np.array([220, 30, 30], np.uint8), (48, 64, 1)))  # red, in RGB
    assert recorder.frames == 3
    cap = cv2.VideoCapture(str(target))
    ok, bgr = cap.read()
    assert ok and bgr.shape == (48, 64, 3) and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12)
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    assert "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).lower() in fourccs  # FFmpeg reads mp4v as FMP4
    b, g, r = bgr.reshape(-1, 3).mean(0)
    assert r > 180 and g < 70 and b < 70, "RGB frames are written as RGB, not channel-swapped"
    cap.release()
    assert recorder.close() == target, "closing twice returns the finished file"


@pytest.mark.parametrize(("size", "stored"), [((63, 63), (64, 64)), ((1, 64), (2, 64)), ((64, 1), (64, 2))])
def test_odd_and_one_pixel_sides_are_padded_for_mpeg4_not_cropped_or_refused(tmp_path: Path, size: tuple[int, int],
                                                                             stored: tuple[int, int]) -> None:
    """OpenCV's MPEG-4 writer cropped a 63×63 frame to 62×62 and could not open a 1-pixel-high video."""
    target = tmp_path / "odd.mp4"
    image = np.zeros((*size, 3), np.uint8)
    image[-1], image[:, -1] = 200, 200  # the last row and column: the ones the crop lost
    with VideoRecorder(target, 10, size) as recorder:
        for _ in range(2):
            recorder.write(image)
    cap = cv2.VideoCapture(str(target))
    ok, bgr = cap.read()
    cap.release()
    assert ok and bgr.shape[:2] == stored and frames_in(target) == 2
    assert bgr[-1].mean() > 150 and bgr[:, -1].mean() > 150, "the edge is repeated into the padding"


def test_no_rate_means_25_fps(tmp_path: Path) -> None:
    for fps in (0, None, -3):
        assert VideoRecorder(tmp_path / "r.mp4", fps, (8, 8)).fps == 25.0
    assert VideoRecorder(tmp_path / "s.mp4", 7.5, (8, 8)).fps == 7.5


def test_the_disk_is_checked_every_64_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    calls: list[str] = []
    recorder = VideoRecorder(tmp_path / "d.avi", 15, (40, 60))

    def failing_statvfs(path: str) -> None:
        calls.append(path)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "statvfs", failing_statvfs)
    for i in range(63):
        recorder.write(frame(i))
    assert calls == []
    with pytest.raises(RecordingError, match=r"d\.avi: recording failed \(Input/output error\)"):
        recorder.write(frame(63))
    monkeypatch.undo()
    assert recorder.closed and list(tmp_path.iterdir()) == [], "a failed recording leaves nothing"


def test_the_refusal_lists_the_containers(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"x\.gif: cannot record to '\.gif' \(use \.avi, \.m4v, \.mkv, \.mov, "
                                             r"\.mp4\)$"):
        VideoRecorder(tmp_path / "x.gif", 15, (40, 60))


def test_the_full_disk_threshold_is_one_mebibyte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    from types import SimpleNamespace

    recorder = VideoRecorder(tmp_path / "t.avi", 15, (40, 60))
    monkeypatch.setattr(os, "statvfs", lambda _p: SimpleNamespace(f_bavail=256, f_frsize=4096))  # exactly 1 MiB
    for i in range(64):
        recorder.write(frame(i))  # no error at the threshold itself
    monkeypatch.setattr(os, "statvfs", lambda _p: SimpleNamespace(f_bavail=255, f_frsize=4096))
    with pytest.raises(RecordingError, match="disk is full"):
        for i in range(64):
            recorder.write(frame(i))


def test_a_full_disk_that_also_breaks_the_file_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    from types import SimpleNamespace

    recorder = VideoRecorder(tmp_path / "gone.avi", 15, (40, 60))
    monkeypatch.setattr(os, "statvfs", lambda _p: SimpleNamespace(f_bavail=0, f_frsize=4096))
    monkeypatch.setattr(os, "replace", lambda *_a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(RecordingError, match=r"gone\.avi: recording stopped: the disk is full$"):
        for i in range(64):
            recorder.write(frame(i))
    assert list(tmp_path.iterdir()) == [], "neither the file nor its temporary copy is left"


def test_close_reports_an_empty_file_and_a_failed_rename(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "e.mp4", 15, (40, 60))
    recorder.write(frame(0))
    recorder.tmp_path.unlink()  # as if nothing reached the disk
    with pytest.raises(RecordingError, match=r"e\.mp4: the recording is empty \(disk full or write error\)$"):
        recorder.close()
    assert not recorder.tmp_path.exists() and not (tmp_path / "e.mp4").exists()
    (tmp_path / "taken.avi").mkdir()  # the target name is a folder: the rename fails
    recorder = VideoRecorder(tmp_path / "taken.avi", 15, (40, 60))
    recorder.write(frame(0))
    with pytest.raises(RecordingError, match=r"taken\.avi: cannot finish the recording \(Is a directory\)$"):
        recorder.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.avi"] and (tmp_path / "taken.avi").is_dir()


def test_closing_again_after_the_file_was_removed_says_so(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "r.avi", 15, (40, 60))
    recorder.write(frame(0))
    path = recorder.close()
    path.unlink()
    assert recorder.close() is None


def test_a_slow_rate_and_a_missing_folder_are_fine_and_the_partial_file_sits_beside_the_target(
        tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "new" / "deeper" / "slow.avi", 0.5, (40, 60))
    assert recorder.fps == 0.5
    assert recorder.tmp_path.parent == tmp_path / "new" / "deeper" and recorder.tmp_path.name.startswith(".slow.")
    recorder.write(frame(0))
    assert recorder.close() == tmp_path / "new" / "deeper" / "slow.avi"

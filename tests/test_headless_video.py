"""`slotviewer run VIDEO`: per-frame labels, masks.npz, overlay.mp4, trace.json; faults keep finished work."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from slotviewer.cli import main
from slotviewer.data.moving_shapes import MovingShapes
from slotviewer.video import DEFAULT_MASK_PRIOR


def write_clip(path: Path, frames: int = 10, size: tuple[int, int] = (48, 80)) -> Path:
    clip = MovingShapes(seed=2, height=size[0], width=size[1])
    fourcc = {".mp4": "mp4v", ".avi": "MJPG"}[path.suffix]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 12, (size[1], size[0]))
    for image, _ in clip.frames(frames):
        writer.write(image[:, :, ::-1])
    writer.release()
    return path


def onnx_model(tiny_model: Path) -> str:
    return str(tiny_model) + ".onnx"


def run(tiny_model: Path, *args: str) -> int:
    return main(["run", *args, "--model", onnx_model(tiny_model), "--backend", "onnx", "--device", "cpu"])


def test_a_video_becomes_labels_masks_overlay_and_trace(tiny_model: Path, tmp_path: Path) -> None:
    video = write_clip(tmp_path / "walk.mp4")
    assert run(tiny_model, str(video), "--out", str(tmp_path / "out"), "--iters-per-frame", "1") == 0
    out = tmp_path / "out" / "walk"
    labels = sorted((out / "labels").iterdir())
    assert [p.name for p in labels] == [f"{i:06d}.png" for i in range(10)]
    first = np.asarray(Image.open(labels[0]))
    assert first.shape == (48, 80) and first.dtype == np.uint8  # the input's resolution
    record = json.loads((out / "trace.json").read_text())
    k, r = record["K"], record["model_resolution"]
    alpha = np.load(out / "masks.npz")["alpha"]
    assert alpha.shape == (10, k, r, r) and alpha.dtype == np.uint8
    assert np.abs(alpha.astype(int).sum(axis=1) - 255).max() <= k  # alpha sums to 1 over slots
    assert first.max() < k and len(np.unique(first)) >= 1
    cap = cv2.VideoCapture(str(out / "overlay.mp4"))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 10 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 80
    assert record["frames"] == 10 and record["fps"] == pytest.approx(12) and record["complete"] is True
    assert record["carry_over"] is True and record["iters_per_frame"] == 1 and record["backend"] == "onnx"
    assert record["match_slots"] is True and record["mask_prior"] == DEFAULT_MASK_PRIOR and record["sticky_labels"]
    assert record["source"] == str(video) and record["timings"]["fps"] > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["walk"]  # no temporary folders left


def test_fresh_slots_and_a_gif(tiny_model: Path, tmp_path: Path) -> None:
    clip = MovingShapes(seed=1)
    frames = [Image.fromarray(clip.frame(i)[0]) for i in range(5)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert run(tiny_model, str(tmp_path / "anim.gif"), "--out", str(tmp_path / "out"), "--no-carry-over",
               "--iters-per-frame", "3", "--mask-prior", "5") == 0
    record = json.loads((tmp_path / "out" / "anim" / "trace.json").read_text())
    assert record["frames"] == 5 and record["carry_over"] is False
    assert [record[k] for k in ("iters_per_frame", "match_slots", "mask_prior", "sticky_labels")] == [None] * 4, \
        "fresh slots per frame use none of carry-over's settings: none is recorded as if it were"
    assert record["fps"] == pytest.approx(10)
    assert len(list((tmp_path / "out" / "anim" / "labels").iterdir())) == 5


def test_video_options_out_of_range_are_one_line_and_write_nothing(tiny_model: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    video = write_clip(tmp_path / "c.avi", frames=3)
    image = tmp_path / "still.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    for given in (video, image):  # checked with the arguments, whatever the inputs are
        for option, value, said in (("--mask-prior", "-1", "argument --mask-prior: must be 0..20, got -1"),
                                    ("--mask-prior", "50", "argument --mask-prior: must be 0..20, got 50"),
                                    ("--iters-per-frame", "-1", "argument --iters-per-frame: must be 0 or more")):
            with pytest.raises(SystemExit) as exit_:
                run(tiny_model, str(given), "--out", str(tmp_path / "out"), option, value)
            err = capsys.readouterr().err.strip()
            assert exit_.value.code == 2 and err == f"slotviewer run: error: {said}" + (
                ", got -1" if option == "--iters-per-frame" else "") + " (see slotviewer run --help)"
    assert not (tmp_path / "out").exists()


def test_still_image_options_on_a_video_are_refused_naming_it_not_dropped(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = write_clip(tmp_path / "c.avi", frames=3)
    for options, said in ((["--remove", "1"], "--remove only works on still images; run the videos without it"),
                          (["--gif", "--adapt", "2"], "--gif, --adapt only work on still images; run the videos "
                           "without them")):
        assert run(tiny_model, str(video), "--out", str(tmp_path / "out"), *options) == 1
        assert capsys.readouterr().err.strip().splitlines() == [
            f"slotviewer: error: {video}: {said} (images and videos in separate commands)"]
    assert not (tmp_path / "out").exists()


def test_an_old_step_graph_runs_without_the_mask_prior_and_says_so(legacy_step_onnx: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    old = legacy_step_onnx
    video = write_clip(tmp_path / "c.avi", frames=3)
    assert main(["run", str(video), "--out", str(tmp_path / "out"), "--model", str(old), "--backend", "onnx",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "warning: old: its ONNX step graph has no attention_bias input" in err and "Traceback" not in err
    record = json.loads((tmp_path / "out" / "c" / "trace.json").read_text())
    assert record["mask_prior"] == 0.0 and "export the model again" in record["mask_prior_unavailable"]
    assert record["frames"] == 3 and record["complete"] is True


def test_carry_over_changes_the_result(tiny_model: Path, tmp_path: Path) -> None:
    video = write_clip(tmp_path / "c.avi", frames=4)
    run(tiny_model, str(video), "--out", str(tmp_path / "a"), "--seed", "0")
    run(tiny_model, str(video), "--out", str(tmp_path / "b"), "--no-carry-over", "--seed", "0")
    a, b = (np.load(tmp_path / d / "c" / "masks.npz")["alpha"] for d in "ab")
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[1:], b[1:])


def test_faults_one_line_each_nonzero_exit_and_finished_work_kept(tiny_model: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    good = write_clip(tmp_path / "good.avi", frames=6)
    data = write_clip(tmp_path / "long.avi", frames=40).read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.mp4").write_bytes(b"\x00garbage" * 500)
    out = tmp_path / "out"
    status = run(tiny_model, str(tmp_path / "cut.avi"), str(tmp_path / "junk.mp4"), str(good), "--out", str(out))
    said = capsys.readouterr()
    errors = [line for line in said.err.splitlines() if line.startswith("slotviewer: error")]
    assert status == 1 and len(errors) == 2
    assert said.out.splitlines() == [f"{good} -> {out / 'good'}{os.sep}"]  # stdout: only where results went
    assert said.err.splitlines()[-1] == "2 inputs failed (see the errors above)"
    assert "cut.avi: stopped at frame" in errors[0] and "of 40" in errors[0] and str(out / "cut") in errors[0]
    assert "junk.mp4: not a video OpenCV can open" in errors[1]
    assert sorted(p.name for p in out.iterdir()) == ["cut", "good"]  # nothing for junk, no temp folders
    cut = json.loads((out / "cut" / "trace.json").read_text())
    assert cut["complete"] is False and 0 < cut["frames"] < 40 and cut["stopped"]["at_frame"] == cut["frames"]
    assert len(list((out / "cut" / "labels").iterdir())) == cut["frames"]
    assert np.load(out / "cut" / "masks.npz")["alpha"].shape[0] == cut["frames"]
    assert json.loads((out / "good" / "trace.json").read_text())["complete"] is True


def test_existing_output_is_kept_unless_overwrite(tiny_model: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    video = write_clip(tmp_path / "v.avi", frames=3)
    (tmp_path / "out" / "v").mkdir(parents=True)
    assert run(tiny_model, str(video), "--out", str(tmp_path / "out")) == 1
    assert "already exists" in capsys.readouterr().err
    assert run(tiny_model, str(video), "--out", str(tmp_path / "out"), "--overwrite", "--max-frames", "2") == 0
    trace = json.loads((tmp_path / "out" / "v" / "trace.json").read_text())
    assert trace["frames"] == 2 and trace["frame_count_announced"] == 3 and trace["max_frames"] == 2
    assert trace["complete"] and trace["stopped"] == {"at_frame": 2, "reason": "--max-frames 2"}  # the cut is said
    assert run(tiny_model, str(video), "--out", str(tmp_path / "out"), "--overwrite", "--max-frames", "3") == 0
    trace = json.loads((tmp_path / "out" / "v" / "trace.json").read_text())
    assert trace["frames"] == 3 and "stopped" not in trace  # the whole video: nothing was cut


def test_inputs_with_one_name_get_a_folder_each_videos_and_images_alike(tiny_model: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    mp4, avi = write_clip(tmp_path / "v.mp4", frames=2), write_clip(tmp_path / "v.avi", frames=3)
    Image.fromarray(MovingShapes(seed=0).frame(0)[0]).save(tmp_path / "v.png")
    for overwrite in ([], ["--overwrite"]):  # with --overwrite too: one input's result never replaces another's
        assert run(tiny_model, str(mp4), str(avi), str(tmp_path / "v.png"), "--out", str(tmp_path / "out"),
                   *overwrite) == 0
        out = tmp_path / "out"
        assert sorted(p.name for p in out.iterdir()) == ["v", "v_2", "v_3"]
        assert json.loads((out / "v" / "trace.json").read_text())["input"] == str(mp4)
        assert json.loads((out / "v_2" / "trace.json").read_text())["frames"] == 3
        assert (out / "v_3" / "labels.png").exists()
        assert capsys.readouterr().err.count("error") == 0


def test_videos_and_images_in_one_call(tiny_model: Path, tmp_path: Path) -> None:
    video = write_clip(tmp_path / "v.avi", frames=3)
    Image.fromarray(MovingShapes(seed=0).frame(0)[0]).save(tmp_path / "still.png")
    assert run(tiny_model, str(video), str(tmp_path / "still.png"), "--out", str(tmp_path / "out")) == 0
    assert (tmp_path / "out" / "v" / "masks.npz").exists() and (tmp_path / "out" / "still" / "labels.png").exists()


def test_a_codec_opencv_cannot_decode_is_one_line_on_a_clean_stderr(tiny_model: Path, tmp_path: Path) -> None:
    """A real container whose codec OpenCV has no decoder for: OpenCV's own error chatter stays silent."""
    import os
    import subprocess
    import sys

    data = write_clip(tmp_path / "ok.avi", frames=4).read_bytes()
    assert b"MJPG" in data
    (tmp_path / "odd.avi").write_bytes(data.replace(b"MJPG", b"ZZZZ"))  # the FourCC of a codec nobody has
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    done = subprocess.run([sys.executable, "-m", "slotviewer", "run", str(tmp_path / "odd.avi"), "--model",
                           str(tiny_model.with_suffix(".onnx")), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"slotviewer: error: {tmp_path / 'odd.avi'}: not a video OpenCV can open (unknown container or codec)"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_without_a_seed_a_video_draws_one_and_records_it_so_it_can_be_repeated(tiny_model: Path,
                                                                              tmp_path: Path) -> None:
    video = write_clip(tmp_path / "c.avi", frames=3)
    for out in ("a", "b"):
        assert run(tiny_model, str(video), "--out", str(tmp_path / out), "--no-carry-over") == 0
    seeds = [json.loads((tmp_path / d / "c" / "trace.json").read_text())["seed"] for d in "ab"]
    assert seeds[0] != seeds[1], "a random seed each time, as for images"
    assert run(tiny_model, str(video), "--out", str(tmp_path / "again"), "--no-carry-over", "--seed",
               str(seeds[0])) == 0
    masks = [np.load(tmp_path / d / "c" / "masks.npz")["alpha"] for d in ("a", "again")]
    assert np.array_equal(*masks), "the recorded seed repeats the run"


def test_sigterm_in_a_video_stops_the_whole_command_and_keeps_the_frames_done(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A killed job (SIGTERM) or Ctrl-C during the first video keeps its finished frames, says where they are,
    and neither starts the next video nor the images (it used to go on with the next input)."""
    import signal

    from slotviewer.video import FrameRunner

    first, second = write_clip(tmp_path / "a.avi", frames=6), write_clip(tmp_path / "b.avi", frames=3)
    Image.fromarray(MovingShapes(seed=0).frame(0)[0]).save(tmp_path / "still.png")
    real, frames = FrameRunner.run, []

    def killed_at_frame_3(self, image):  # noqa: ANN001, ANN202
        frames.append(1)
        if len(frames) == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, image)

    monkeypatch.setattr(FrameRunner, "run", killed_at_frame_3)
    before = signal.getsignal(signal.SIGTERM)
    assert run(tiny_model, str(first), str(second), str(tmp_path / "still.png"), "--out", str(tmp_path / "out")) == 130
    assert signal.getsignal(signal.SIGTERM) == before
    err = capsys.readouterr().err
    assert "a.avi: interrupted" in err and "the frames before it are in" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a"]  # not b, not still, no temporary folder
    record = json.loads((tmp_path / "out" / "a" / "trace.json").read_text())
    assert record["complete"] is False and record["frames"] == 3
    assert len(list((tmp_path / "out" / "a" / "labels").iterdir())) == 3


def test_an_interrupted_overwrite_leaves_the_earlier_result_as_it_was(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from slotviewer.video import FrameRunner

    video, out = write_clip(tmp_path / "a.avi", frames=6), tmp_path / "out"
    assert run(tiny_model, str(video), "--out", str(out)) == 0
    before = (out / "a" / "trace.json").read_text()
    real, frames = FrameRunner.run, []

    def interrupted_at_frame_3(self, image):  # noqa: ANN001, ANN202
        frames.append(1)
        if len(frames) == 4:
            raise KeyboardInterrupt
        return real(self, image)

    monkeypatch.setattr(FrameRunner, "run", interrupted_at_frame_3)
    assert run(tiny_model, str(video), "--out", str(out), "--overwrite") == 130
    assert "a.avi: interrupted" in capsys.readouterr().err
    assert (out / "a" / "trace.json").read_text() == before and json.loads(before)["frames"] == 6
    assert sorted(p.name for p in out.iterdir()) == ["a"], "no temporary folder left"


def test_a_write_error_in_a_video_names_it_and_the_other_inputs_go_on(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A full disk (ENOSPC) while a video's outputs are written: that video fails in one line naming it, and
    the next inputs are still processed (it ended the whole command with an errno that named no file)."""
    import errno

    from slotviewer.headless_video import VideoWriter

    first, second = write_clip(tmp_path / "a.avi", frames=3), write_clip(tmp_path / "b.avi", frames=3)
    real = VideoWriter.write

    def full_for_a(self, trace):  # noqa: ANN001, ANN202
        if self.out_dir.name == "a":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, trace)

    monkeypatch.setattr(VideoWriter, "write", full_for_a)
    assert run(tiny_model, str(first), str(second), "--out", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert f"slotviewer: error: {first}: No space left on device" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b"]


def test_a_folder_plays_its_clips_and_animated_gifs_and_one_summary_counts_every_failure(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In a folder, an animated GIF was run as its first frame and a clip not at all; and a command with
    failing videos and images printed two "N inputs failed" lines."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    frames = [Image.fromarray(MovingShapes(seed=0).frame(i)[0]) for i in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    write_clip(folder / "clip.avi", frames=2)
    frames[0].save(folder / "still.png")
    (folder / "broken.png").write_bytes(b"not a png")
    (tmp_path / "fake.mp4").write_bytes(b"not a video")
    assert run(tiny_model, str(folder), str(tmp_path / "fake.mp4"), "--out", str(tmp_path / "out")) == 1
    out = tmp_path / "out"
    assert json.loads((out / "anim" / "trace.json").read_text())["frames"] == 3
    assert json.loads((out / "clip" / "trace.json").read_text())["frames"] == 2
    assert (out / "still" / "labels.png").is_file() and not (out / "broken").exists()
    err = capsys.readouterr().err
    assert err.count("failed (see the errors above)") == 1 and "2 inputs failed" in err, err

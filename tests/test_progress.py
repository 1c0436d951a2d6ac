"""Progress off a terminal: lines a log reader can follow, not a bar redrawn with carriage returns."""

import io

import pytest
from tqdm import tqdm

from slotviewer.progress import LogProgress, progress_bar


def test_a_log_gets_a_line_every_so_often_and_one_at_the_end() -> None:
    out = io.StringIO()
    with LogProgress(10, "train m", "step", every=3600, file=out) as bar:
        for _ in range(10):
            bar.update()
        bar.set_postfix(loss="0.00500")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "\r" not in out.getvalue(), "one line at the end, none in between (an hour apart)"
    assert lines[0].startswith("train m: 10/10 step (100%), ") and lines[0].endswith("step/s, loss 0.00500")


def test_every_line_says_how_far_and_a_resumed_run_starts_where_it_was() -> None:
    out = io.StringIO()
    bar = LogProgress(8, "d", "img", initial=4, every=0, file=out)
    bar.update(2)
    bar.write("validation FG-ARI 0.70")
    bar.update(2)
    bar.close()  # already said: nothing more
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "d: 6/8 img (75%)", "validation FG-ARI 0.70", "d: 8/8 img (100%)"]


def test_a_terminal_gets_tqdm_a_log_gets_lines_and_disabled_is_silent(capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(progress_bar(5, "x", "step"), LogProgress)  # pytest's captured stderr is no terminal
    silent = progress_bar(5, "x", "step", disable=True)
    silent.update()
    silent.close()
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert isinstance(progress_bar(5, "x", "step"), tqdm)

"""The README's command-line reference is what the parsers say (regenerate: python -m slotviewer.cli_reference
--write README.md)."""

import argparse
from pathlib import Path

from slotviewer import cli_reference
from slotviewer.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_reference_matches_the_parsers() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(cli_reference.START), text.index(cli_reference.END) + len(cli_reference.END) + 1
    assert text[start:end] == cli_reference.render(build_parser()), (
        "the README's command-line reference is stale: run python -m slotviewer.cli_reference --write README.md")


def test_reference_lists_every_command_and_visible_option() -> None:
    reference = cli_reference.render(build_parser())
    for command in ("gui", "run", "eval", "train", "doctor", "bundle", "install-desktop", "data generate"):
        assert f"#### `slotviewer {command}`" in reference
    assert "| `--attention-size` | attention.npz at the model's resolution" in reference
    assert "`--progress, --no-progress`" in reference
    assert "--probe-qt" not in reference, "hidden options stay hidden"


def test_a_new_flag_changes_the_reference() -> None:
    parser = build_parser()
    before = cli_reference.render(parser)
    run = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
    run.add_argument("--brand-new", type=int, default=3, help="a flag someone just added")
    after = cli_reference.render(parser)
    assert after != before and "| `--brand-new BRAND_NEW` | a flag someone just added; default `3` |" in after
    text = "intro\n" + before + "outro\n"
    assert cli_reference.splice(text, after) == "intro\n" + after + "outro\n"

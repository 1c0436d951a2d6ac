import time

import pytest
import torch

from slotviewer import precision
from slotviewer.precision import BF16_MIN_GAIN, choose_precision

CPU = torch.device("cpu")


def sleeper(seconds: dict[str, float], calls: list[str]):
    def step(p: str) -> None:
        calls.append(p)
        time.sleep(seconds[p])
    return step


@pytest.fixture
def bf16_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "bf16_supported", lambda device: True)


@pytest.mark.usefixtures("bf16_kernels")
def test_auto_keeps_bf16_only_where_it_is_clearly_faster() -> None:
    calls: list[str] = []
    fast = choose_precision("auto", CPU, sleeper({"fp32": 0.02, "bf16": 0.008}, calls))
    assert fast.precision == "bf16" and "bf16" in fast.reason and "fp32" in fast.reason
    assert calls.count("fp32") == calls.count("bf16") == 4, "one untimed and three timed rounds of each"
    slow = choose_precision("auto", CPU, sleeper({"fp32": 0.008, "bf16": 0.02}, []))
    assert slow.precision == "fp32"
    # a gain inside the probe's noise keeps fp32, the exactly repeatable choice
    close = choose_precision("auto", CPU, sleeper({"fp32": 0.0105, "bf16": 0.0105 / (BF16_MIN_GAIN - 0.1)}, []))
    assert close.precision == "fp32"


def test_auto_without_bf16_kernels_is_fp32_without_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "bf16_supported", lambda device: False)
    calls: list[str] = []
    choice = choose_precision("auto", CPU, sleeper({"fp32": 0.0, "bf16": 0.0}, calls))
    assert choice.precision == "fp32" and calls == [] and "no bf16" in choice.describe()


def test_an_asked_precision_is_used_as_it_is() -> None:
    calls: list[str] = []
    for asked in ("fp32", "bf16"):
        assert choose_precision(asked, CPU, sleeper({}, calls)).precision == asked
    assert calls == []
    with pytest.raises(ValueError, match="fp16"):
        choose_precision("fp16", CPU, sleeper({}, calls))

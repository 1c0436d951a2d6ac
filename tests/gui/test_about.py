"""Help → About model: an adapted copy says what it was adapted on, beside the original's scores."""

from types import SimpleNamespace

from slotviewer.gui.about import model_card_html
from slotviewer.model.config import PRESETS, ModelCard


def engine_with(card: ModelCard) -> SimpleNamespace:
    return SimpleNamespace(backend=SimpleNamespace(card=card), config=PRESETS["shapes"], description="mine · torch")


def test_an_adapted_model_says_what_it_was_adapted_on_and_how() -> None:
    notes = ("trained for 297 min; adapted from shapes (abc) by slotviewer adapt: 5 steps in 2 s, lr 0.0003; "
             "reconstruction MSE 0.01 → 0.009 (training batches); FG-ARI and PSNR above are the original model's")
    html = model_card_html(engine_with(ModelCard(dataset="shapes", adapted_on="photos/ (3 image(s), unlabelled)",
                                                 notes=notes)))
    assert "<b>adapted on</b></td><td>photos/ (3 image(s), unlabelled) — adapted from shapes (abc) by slotviewer " \
           "adapt: 5 steps in 2 s" in html and "are the original model&#x27;s" in html
    assert "adapted on" not in model_card_html(engine_with(ModelCard(dataset="shapes", notes="trained")))

"""Help → About model: the model card, so a user can see what the model knows before trusting its slots."""

from __future__ import annotations

from html import escape
from typing import Any

from slotviewer.engine.familiarity import UNFAMILIAR_RATIO


def model_card_html(engine: Any) -> str:
    """The card of the loaded model as a small HTML table (data set, K, T, FG-ARI, training time…)."""
    if engine is None:
        return "No model is loaded yet."
    card, cfg = engine.backend.card, engine.config
    fg = card.fg_ari or {}
    draws = fg.get("draws", 1)
    posterior = fg.get("posterior") or {}
    by = (f" by alpha (the papers' measure), {posterior['mean']:.3f} ± {posterior.get('std', 0):.3f} by posterior "
          "(the labels shown)" if "mean" in posterior else "")
    ari = (f"{fg['mean']:.3f} ± {fg.get('std', 0):.3f}{by} on {fg.get('n', '?')} scenes at T={fg.get('iters', '?')}"
           + (f", best of {draws} draws" if draws > 1 else "") if "mean" in fg else "not measured")
    rows = [
        ("model", engine.description), ("trained on", card.dataset or "unknown"),
        ("slots K", f"{cfg.num_slots} ({'learned queries: fixed' if cfg.slot_init == 'learned' else 'Gaussian'})"),
        ("iterations T", str(cfg.iters)), ("resolution", f"{cfg.resolution}×{cfg.resolution}"),
        ("initial draws", f"best of {cfg.draws} by reconstruction error" if cfg.draws > 1 else "1"),
        ("FG-ARI", ari), ("training", f"{card.steps:,} steps, batch {card.batch}, "
                                      f"{card.wall_clock_s / 3600:.1f} h on {card.trained_on or '?'}"),
        ("typical reconstruction MSE", f"{card.typical_mse:.5f} (images above {UNFAMILIAR_RATIO:.0f}× are flagged "
                                       "as unlike the training data)" if card.typical_mse else "not measured"),
    ]
    if card.adapted_on:  # an adapted copy: its scores above are the original's, its notes say what was done
        adapted = card.notes[card.notes.rindex("adapted from"):] if "adapted from" in card.notes else ""
        rows.insert(2, ("adapted on", card.adapted_on + (f" — {adapted}" if adapted else "")))
    table = "".join(f"<tr><td valign='top'><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>" for k, v in rows)
    return (f"<table cellspacing='4'>{table}</table><p>It learned from {escape(card.dataset or 'its data set')} "
            "only: on other pictures (photos) its slots follow colour and position rather than objects.</p>")

"""The ONNX contract: the graphs' tensor names and ranks, written once for the exporter and the backend.

A graph exported by `onnx_export` must pass the checks `onnx_backend` makes; keeping both sides in one
table means a renamed or added tensor cannot drift apart between them.
"""

from __future__ import annotations

# graph → {"inputs": {name: rank}, "outputs": {name: rank}}; the dicts keep the graphs' output order
FULL = {"inputs": {"image": 4, "noise": 3},
        "outputs": {"attention": 4, "slots": 4, "rgb": 5, "alpha_logits": 4, "composite": 4, "features": 3,
                    "key_features": 3}}
DECODER = {"inputs": {"slots": 3}, "outputs": {"rgb": 5, "alpha_logits": 4, "composite": 4}}
STEP = {"inputs": {"features": 3, "key_features": 3, "slots": 3, "attention_bias": 3},
        "outputs": {"attention": 3, "new_slots": 3},
        "optional": ("attention_bias",)}  # step graphs exported before video's mask prior lack it
ENCODER = {"inputs": {"image": 4}, "outputs": {"features": 3, "key_features": 3}}


def input_names(contract: dict) -> list[str]:
    return list(contract["inputs"])


def output_names(contract: dict) -> list[str]:
    return list(contract["outputs"])

"""Inference engine: backends (PyTorch, ONNX Runtime), `Trace`s, slot surgery, k-means baselines. No Qt."""

from slotviewer.engine.engine import METHODS, Engine
from slotviewer.engine.trace import Trace

__all__ = ["METHODS", "Engine", "Trace"]

"""slotviewer: see how Slot Attention takes a picture apart into objects."""

__version__ = "0.1.0"  # keep in step with pyproject.toml (tests/test_version.py checks)

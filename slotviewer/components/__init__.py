"""Viewer models without Qt (like napari's `components/`): what is open, which iteration, what was edited."""

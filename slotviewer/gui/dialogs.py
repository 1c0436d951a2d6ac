"""File dialogs, clipboard, drag and drop, export and screenshots (mixed into `MainWindow`).

They only turn the user's choice into a call on the `Viewer`; nothing here holds state.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from slotviewer.components.viewer import export_name
from slotviewer.errors import SlotviewerError
from slotviewer.gui.qt_document_view import qimage_to_array
from slotviewer.io.images import IMAGE_SUFFIXES


def ask_adapted_model_path(parent: QWidget) -> str:
    """Where to save an adapted model (Adapt to this image, Learn this scene): its `.safetensors` name; the JSON
    and graphs go beside it. "" when the user cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, "Save adapted model as", "adapted.safetensors",
                                          "Models (*.safetensors)")
    return path


class DialogsMixin:
    def _last_folder(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def open_dialog(self, name: str = "A") -> None:
        from slotviewer.io.sources import VIDEO_SUFFIXES, is_video_path

        suffixes = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        videos = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self._last_folder(),
                                              f"Images ({suffixes});;Videos ({videos})" if name == "A" else
                                              f"Images ({suffixes})")
        if path and name == "A" and is_video_path(path):
            self.live.open_path(path)  # a video or an animated GIF plays in the live view
        elif path:
            self.viewer.open_path(path, name)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder of images", self._last_folder())
        if folder:
            self.viewer.open_path(folder)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(Path.home()), "Models (*.safetensors *.onnx)")
        if path:
            self._set_params({"model": path, "backend": "onnx" if path.endswith(".onnx") else "torch"})
        else:  # back to the model that really runs
            self.show_params()

    def paste(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.error("the clipboard holds no image")
        else:
            self.viewer.show_image(qimage_to_array(image), "clipboard")

    def next_image(self, step: int) -> None:
        self.viewer.browse(step)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
        from slotviewer.io.sources import is_video_path

        if local and is_video_path(local[0]):
            self.live.open_path(local[0])
            return
        for path, name in zip(local, ("A", "B"), strict=False):
            self.viewer.open_path(path, name)
        if not local and mime.hasImage():
            self.viewer.show_image(qimage_to_array(QImage(mime.imageData())), "dropped image")

    def export_dialog(self) -> None:
        document = self.session.documents["A"]
        if document is None or document.trace is None:
            self.error("nothing to export yet")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export results into", self._last_folder())
        target = Path(folder) / export_name(document)
        if folder and (not target.exists() or QMessageBox.question(self, "slotviewer", f"{target} exists. Replace it?")
                       == QMessageBox.StandardButton.Yes):
            self.export_to(Path(folder))

    def export_to(self, folder: Path) -> None:
        """Write what `slotviewer run` writes (current edits included), a PNG of the window and the GIF."""
        from slotviewer.io.images import png_bytes

        self.viewer.export(folder, {"view.png": png_bytes(qimage_to_array(self.grab().toImage()))})

    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", self._last_folder() + "/slotviewer.png",
                                              "PNG (*.png)")
        if path:
            self.save_screenshot(path)

    def save_screenshot(self, path: str) -> None:
        from slotviewer.io.atomic import write_with
        from slotviewer.io.images import SCREENSHOT_FORMATS

        image = self.grab().toImage()
        kind = SCREENSHOT_FORMATS.get(Path(path).suffix.lower(), "PNG")  # the file dialog's names may lack one

        def save(tmp: Path) -> None:
            if not image.save(str(tmp), kind):
                raise SlotviewerError(f"{path}: cannot write the screenshot")

        write_with(Path(path), save)
        self.status(f"wrote {path}")

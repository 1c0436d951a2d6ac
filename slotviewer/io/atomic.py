"""Atomic file writes: a reader (or a crash) never sees a half-written output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def temporary_file(path: Path, suffix: str = ".tmp") -> Path:
    """An empty hidden file beside `path` with the permissions a plain new file gets (mkstemp makes them
    0600: a result renamed into place would then be unreadable to the user's group, a web server…)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def temporary_dir(path: Path) -> Path:
    """A hidden folder beside `path`, to fill and rename onto it, with a plain new folder's permissions
    (mkdtemp makes them 0700)."""
    tmp = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o777 & ~_umask())
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = temporary_file(path)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # a writer that made the file anew (safetensors) made it 0600
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Atomically write `data` to `path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write UTF-8 `text` to `path`."""
    write_bytes(path, text.encode("utf-8"))


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically write `path` with `writer(tmp_path)`, for libraries that want a file name."""
    with atomic_path(path) as tmp:
        writer(tmp)

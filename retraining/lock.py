"""One retrain of a dataset at a time: an exclusive `flock` on `<models>/<dataset>/.retrain.lock`.

The kernel drops the lock when its holder exits, however it exits, so a crashed run never
leaves a stale lock behind. (Versions themselves are claimed atomically by `save_model`; the
lock keeps two runs from judging against the same deployed model and both promoting.)
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "RetrainBusyError", "dataset_lock"]

LOCK_FILE = ".retrain.lock"


class RetrainBusyError(RuntimeError):
    """Another retrain of the same dataset holds the lock."""


@contextmanager
def dataset_lock(models_dir: Path, dataset: str) -> Iterator[Path]:
    """Hold the dataset's retrain lock for the block; RetrainBusyError at once if taken."""
    folder = models_dir / dataset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainBusyError(
                f"another `anomstream retrain {dataset}` is running (it holds {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a curious reader
        yield path
    finally:
        os.close(fd)  # closing releases the lock

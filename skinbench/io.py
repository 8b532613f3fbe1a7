"""Atomic file writes (a crash never leaves a half-written file that looks finished) and file locks."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from skinbench.errors import SkinbenchError


def write_atomic(path: Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` on a temporary file beside ``path``, then rename it into place.

    The file gets the permissions of any file the process creates (0666 less the umask, or
    the folder's default ACL), so a results folder on a shared file system is readable by
    whom the umask says. A full disk becomes a SkinbenchError naming the file; the temporary
    file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise SkinbenchError(f"disk full while writing {path}; free space and run again (finished files are kept)") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _create_beside(path: Path) -> Path:
    """A new empty temporary file beside ``path``, created as ``open`` creates files.

    ``tempfile.mkstemp`` would create it with mode 0600 whatever the umask, and the rename
    keeps that mode.
    """
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return tmp


def gib(nbytes: float) -> str:
    """Bytes as GiB for a message ("1.25 GiB")."""
    return f"{nbytes / 2**30:,.2f} GiB"


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system that holds ``folder`` (or its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def disk_full(folder: Path, what: str, nbytes: int) -> SkinbenchError:
    """The one line for a disk without room for ``what`` (``nbytes``) in ``folder``."""
    return SkinbenchError(
        f"disk full: {what} needs {gib(nbytes)} in {folder}, which has {gib(free_bytes(folder))} free; free space "
        "there (or point SKINBENCH_CACHE at a larger disk) and run again (finished files are kept)"
    )


def check_free_space(folder: Path, nbytes: int, what: str) -> None:
    """``disk_full`` when the disk of ``folder`` has less than ``nbytes`` free for ``what``."""
    if free_bytes(folder) < nbytes:
        raise disk_full(folder, what, nbytes)


def allocate_memmap(path: Path, shape: tuple[int, ...], dtype: Any, what: str) -> np.memmap:
    """A new ``.npy`` file of ``shape`` opened as a writable memory map, its blocks reserved on disk first.

    A write through a memory map into a sparse file on a disk that has filled up kills the
    process with SIGBUS; reserving every block now (``posix_fallocate``) turns a full disk into
    a SkinbenchError naming the folder, before any work is done.
    """
    path = Path(path)
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    check_free_space(path.parent, nbytes, what)
    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    try:
        with open(path, "r+b") as handle:  # glibc writes zeros where the file system has no fallocate
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        del array
        path.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full(path.parent, what, nbytes) from None
        raise
    return array


@contextlib.contextmanager
def exclusive(lock: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (if given) for the duration.

    Processes that read, change and write one file (shards merging data.json), or that must
    not overlap (bench processes timing on one accelerator), take turns on it.
    """
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_text(path: Path, text: str) -> Path:
    """Write text atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_csv(path: Path, frame: pd.DataFrame, **kwargs: Any) -> Path:
    """Write a DataFrame as CSV (no index unless asked), atomically."""
    kwargs.setdefault("index", False)
    return write_atomic(path, lambda tmp: frame.to_csv(tmp, **kwargs))


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def _json_default(value: Any) -> Any:
    """Let numpy scalars and arrays, and paths, go into JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")

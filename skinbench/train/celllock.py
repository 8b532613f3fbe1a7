"""One process at a time trains (or repairs) a cell: it holds the lock file ``<cell>/.cell.lock``.

Two ``skinbench run`` commands on one results folder, or a run beside the jobs of an earlier
one, would otherwise train the same cell at once and overwrite each other's checkpoint and
results. The lock is a ``filelock.FileLock``: an ``flock(2)`` on the file, which the kernel
releases when its process ends however it ends (killed, out of memory, preempted), so a cell
is never left locked by a process that is gone. ``filelock.SoftFileLock`` (a marker file
created exclusively) would work on any file system, but a holder killed on one node of a
cluster leaves its marker behind, and the requeued job on another node would wait for ever.
flock is shared between the nodes of NFS (v3 with lockd, v4), GPFS and Lustre mounted with
``flock``; on a Lustre mount with ``localflock`` it holds on one node only. Where the file
system has no flock at all, filelock falls back to its soft marker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from skinbench.records import CELL_LOCK_FILE


def cell_lock(folder: Path) -> FileLock:
    """The lock of the cell in ``folder`` (the folder is made if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / CELL_LOCK_FILE)


def try_lock(lock: FileLock) -> bool:
    """Take ``lock`` if no other process holds it; False (not waiting) if one does."""
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


def wait_for_lock(lock: FileLock, stop: Callable[[], bool], poll: float = 1.0) -> None:
    """Take ``lock``, waiting while another process holds it; KeyboardInterrupt once ``stop()`` says so (a Ctrl-C)."""
    while True:
        try:
            lock.acquire(timeout=poll)
            return
        except Timeout:
            if stop():
                raise KeyboardInterrupt from None

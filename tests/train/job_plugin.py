"""The plugin every executor job of the tests imports (``SKINBENCH_PLUGINS=job_plugin``).

It registers the tiny backbone and, when ``SKINBENCH_TEST_BUILD_LOG`` names a file, appends
``<pid> <what>`` to it for every split written, image cache built and augmented set built, so
a test counts what each process prepared. When ``SKINBENCH_TEST_HOLD`` is ``<cell>:<n>``, the
process waits after saving that cell's epoch ``n`` (up to five minutes, or until the file that
``SKINBENCH_TEST_RELEASE`` names exists), so a test can signal, kill or race it at a known point
of its training however fast the tiny backbone trains.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import tiny_backbone

BUILD_LOG_ENV = "SKINBENCH_TEST_BUILD_LOG"
HOLD_ENV = "SKINBENCH_TEST_HOLD"
RELEASE_ENV = "SKINBENCH_TEST_RELEASE"


def register() -> None:
    tiny_backbone.register()
    log_builds(os.environ.get(BUILD_LOG_ENV))
    hold_after(os.environ.get(HOLD_ENV), release=os.environ.get(RELEASE_ENV))


def hold_after(where: str | None, seconds: float = 300, release: str | None = None) -> None:
    """Wrap the checkpoint's save so the process sleeps once ``<cell>:<n>`` (cell, epoch) is saved,
    until ``release`` (a path) exists or ``seconds`` have passed."""
    if not where:
        return
    from skinbench.train.state import Checkpoint

    cell, epoch = where.rsplit(":", 1)
    real = Checkpoint.save

    def save_then_hold(self, model, state, improved) -> None:
        real(self, model, state, improved)
        if self.root.parent.name == cell and state.epochs_done == int(epoch):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not (release and os.path.exists(release)):
                time.sleep(0.05)  # a signal's handler runs between these sleeps

    Checkpoint.save = save_then_hold


def log_builds(path: str | None, set_attribute: Callable = setattr) -> None:
    """Wrap the functions that write prepared data so each call leaves a line in ``path``."""
    if not path:
        return
    from skinbench.data import augment, cache, splits

    def wrap(module, name: str, what: str) -> None:
        real = getattr(module, name)

        def logged(*args, **kwargs):
            with open(path, "a") as log:
                log.write(f"{os.getpid()} {what}\n")
            return real(*args, **kwargs)

        set_attribute(module, name, logged)

    wrap(splits, "save_split", "split")
    wrap(cache, "_build", "cache")
    wrap(augment, "_build", "augmented")


def builds(path) -> dict[int, list[str]]:
    """pid -> what it built, from the log."""
    found: dict[int, list[str]] = {}
    if os.path.exists(path):
        for line in open(path).read().splitlines():
            pid, what = line.split()
            found.setdefault(int(pid), []).append(what)
    return found

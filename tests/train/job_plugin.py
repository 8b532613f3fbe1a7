"""The plugin every executor job of the tests imports (``SKINBENCH_PLUGINS=job_plugin``).

It registers the tiny backbone and, when ``SKINBENCH_TEST_BUILD_LOG`` names a file, appends
``<pid> <what>`` to it for every split written, image cache built and augmented set built, so
a test counts what each process prepared.
"""

from __future__ import annotations

import os
from typing import Callable

import tiny_backbone

BUILD_LOG_ENV = "SKINBENCH_TEST_BUILD_LOG"


def register() -> None:
    tiny_backbone.register()
    log_builds(os.environ.get(BUILD_LOG_ENV))


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

"""TensorFlow's C++ start-up lines kept off the terminal of a machine without an NVIDIA driver.

Importing TensorFlow (2.16 and later) and initialising its devices write, straight to file
descriptor 2 and whatever ``TF_CPP_MIN_LOG_LEVEL`` says, "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR" (once for each of its libraries that
carries its own absl), the oneDNN notice, "Could not find cuda drivers on your machine", the
CPU-feature notice and "failed call to cuInit". On a machine without an NVIDIA driver
(``device.nvidia_driver``) these say only that there is no GPU, which ``device_line`` already
says, so ``quiet_tensorflow_start`` captures descriptor 2 during TensorFlow's import and its
device discovery, wherever the first import happens (Keras's backend, an export, a job), and
replays what it caught only when the import fails. With a driver nothing is changed: there a
line from CUDA is a real GPU problem and reaches the user.

``skinbench/__init__.py`` calls it once, so it is in place before any module imports Keras.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

from skinbench.train.device import nvidia_driver

#: TensorFlow's C++ log level without a driver: errors only (users can still set their own).
CPU_LOG_LEVEL = "2"


def quiet_tensorflow_start() -> bool:
    """Without an NVIDIA driver, keep TensorFlow's start-up lines off the terminal; True when applied."""
    if nvidia_driver() is not None:
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", CPU_LOG_LEVEL)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())
    return True


@contextmanager
def captured_stderr() -> Iterator[None]:
    """File descriptor 2 (what C++ writes to) into a temporary file; its content replayed if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            caught.seek(0)
            os.write(2, caught.read())
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Finds the ``tensorflow`` package as the other finders do, once, with a loader that runs it quietly."""

    def find_spec(self, name: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's ``__init__`` and its device discovery (where cuInit is tried) with descriptor 2 captured."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the package keeps its own loader
        with captured_stderr():
            self.loader.exec_module(module)
            module.config.list_physical_devices("GPU")

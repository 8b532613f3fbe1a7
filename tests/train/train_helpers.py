"""Names and helpers the training tests share (a plain module: tests import it, never conftest)."""

import subprocess
import time
from pathlib import Path

#: The cells the ``two_cells`` fixture trains: one per recipe, on the tiny backbone.
TWO_CELLS = ("tiny-augmented-paper-s0", "tiny-metadata-paper-s0")
TWO_CELLS_ARGS = ["run", "--allow-cpu", "--backbones", "tiny", "--epochs", "2"]


def long_epochs(monkeypatch, steps: int = 896) -> None:
    """Epochs of ``steps`` batches whatever the schedule and the training part (``config.Schedule.epoch_steps``):
    the tiny backbone learns in a few such epochs, where one-pass epochs of a small set would spend the test's
    time on each epoch's validation and checkpoint."""
    from skinbench.config import Schedule

    monkeypatch.setattr(Schedule, "epoch_steps", lambda self, n_train: steps)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until ``path`` exists while ``process`` runs (it must not end first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the process ended (exit {process.returncode}) before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.05)

"""TensorBoard logs of a cell: ``<cell>/tensorboard/train/`` and ``.../validation/``, one step per epoch.

``tensorboard --logdir RUN_DIR`` then shows every cell of a run side by side. The event files
are written with tensorboardX, which needs no TensorFlow, so cells log the same way under JAX
(``keras.callbacks.TensorBoard`` imports ``tensorflow.summary``). Tags follow Keras' callback:
``epoch_loss``, ``epoch_accuracy``, ``epoch_learning_rate`` and ``epoch_seconds`` (the training
pass) under ``train``; ``epoch_loss``, ``epoch_accuracy`` and ``epoch_seconds`` under
``validation``. The step is the epoch number of history.csv (1 for the first epoch); a resumed
cell adds an event file and continues at the epoch after its last saved one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras

from skinbench.console import err_console
from skinbench.records import TENSORBOARD_DIR
from skinbench.train.state import TrainingState

#: history.csv columns -> (run, tag)
SCALARS = {
    "loss": ("train", "epoch_loss"),
    "accuracy": ("train", "epoch_accuracy"),
    "learning_rate": ("train", "epoch_learning_rate"),
    "seconds": ("train", "epoch_seconds"),
    "val_loss": ("validation", "epoch_loss"),
    "val_accuracy": ("validation", "epoch_accuracy"),
    "val_seconds": ("validation", "epoch_seconds"),
}
_warned = False


class TensorBoardLog(keras.callbacks.Callback):
    """Writes each saved epoch's row of the training state as TensorBoard scalars.

    Must come after ``train.state.EpochState`` (it writes the row that one appended; an epoch
    with a NaN loss appends none and is not logged).
    """

    def __init__(self, folder: Path, state: TrainingState) -> None:
        super().__init__()
        self.root = Path(folder) / TENSORBOARD_DIR
        self.state = state
        self._writers: dict = {}

    def _writer(self, run: str):
        if run not in self._writers:
            from tensorboardX import SummaryWriter

            self._writers[run] = SummaryWriter(logdir=str(self.root / run), flush_secs=3600)
        return self._writers[run]

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        global _warned
        history = self.state.history
        if not history or history[-1]["epoch"] != epoch + 1:
            return
        if importlib.util.find_spec("tensorboardX") is None:
            if not _warned:
                err_console.print("[yellow]note:[/] tensorboardX is not installed: no TensorBoard logs (pip install tensorboardX)")
                _warned = True
            return
        row = history[-1]
        for column, (run, tag) in SCALARS.items():
            if column in row:
                self._writer(run).add_scalar(tag, float(row[column]), global_step=int(row["epoch"]))
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

"""timing.json: how long a cell's epochs, evaluation and single predictions took.

An epoch's ``seconds`` in history.csv is one pass over the training set (validation is
timed apart as ``val_seconds``). The first epoch of every training process includes tracing
and compilation, so it is reported apart (``first_epoch_s``) and left out of the median
(``epoch_s``); a resumed cell's first epoch after the restart is left out the same way.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import keras
import numpy as np

from skinbench.records import Timing
from skinbench.train.state import TrainingState

#: Timed calls per latency figure (after one warm-up call).
LATENCY_REPEATS = 10


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn`` (each call must block until done)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def inference_latency_ms(model, inputs: dict, batch_size: int, repeats: int = 10) -> float:
    """Median milliseconds per image of ``predict_on_batch`` at ``batch_size`` after warm-up."""
    batch = {name: value[:batch_size] for name, value in inputs.items()}
    if len(batch["image"]) < batch_size:
        batch = {name: np.resize(value, (batch_size, *value.shape[1:])) for name, value in batch.items()}
    model.predict_on_batch(batch)
    seconds = statistics.median(timed(lambda: model.predict_on_batch(batch), repeats))
    return 1000.0 * seconds / batch_size


def latency(model: keras.Model, inputs: dict) -> dict[str, float]:
    """Inference latency in ms per image at batch 1 and batch 32 on real inputs.

    ``predict_on_batch`` does not split a batch over data-parallel replicas, so with several
    GPUs this is the latency of one GPU computing the whole batch.
    """
    return {
        "latency_ms_b1": round(inference_latency_ms(model, inputs, 1, LATENCY_REPEATS), 4),
        "latency_ms_b32": round(inference_latency_ms(model, inputs, 32, LATENCY_REPEATS), 4),
    }


def summarize(state: TrainingState, *, n_train_images: int, eval_s: float, latency_ms: dict, replicas: int) -> Timing:
    """timing.json from the training state and the evaluation's measurements."""
    history = state.history
    rest = [row["seconds"] for row in history if row["epoch"] not in state.traced_epochs]
    epoch_s = statistics.median(rest) if rest else None
    return Timing(
        first_epoch_s=history[0]["seconds"] if history else None,
        epoch_s=epoch_s,
        train_images_per_s=round(n_train_images / epoch_s, 2) if epoch_s else None,
        eval_s=round(eval_s, 4),
        latency_ms_b1=latency_ms["latency_ms_b1"],
        latency_ms_b32=latency_ms["latency_ms_b32"],
        epochs_run=len(history),
        best_epoch=state.best_epoch,
        n_train_images=n_train_images,
        replicas=replicas,
        traced_epochs=tuple(state.traced_epochs),
    )

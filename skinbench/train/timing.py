"""timing.json: how long a cell's epochs, evaluation and single predictions took.

An epoch's ``seconds`` in history.csv is one pass over the training set (validation is
timed apart as ``val_seconds``). The first epoch of every training process includes tracing
and compilation, so it is reported apart (``first_epoch_s``) and left out of the median
(``epoch_s``); a resumed cell's first epoch after the restart is left out the same way.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
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


def summarize(
    state: TrainingState,
    *,
    n_train_images: int,
    epoch_images: int,
    dtype_policy: str,
    eval_s: float,
    latency_ms: dict,
    replicas: int,
    micro_batch_size: int,
    peak_memory: tuple[float | None, bool],
) -> Timing:
    """timing.json from the training state and the evaluation's measurements.

    ``peak_memory``: ``env.PeakMemory.result()`` (GiB or None, whether it is only an upper bound).
    """
    history = state.history
    rest = [row["seconds"] for row in history if row["epoch"] not in state.traced_epochs]
    epoch_s = statistics.median(rest) if rest else None
    return Timing(
        first_epoch_s=history[0]["seconds"] if history else None,
        epoch_s=epoch_s,
        train_images_per_s=round(epoch_images / epoch_s, 2) if epoch_s else None,
        eval_s=round(eval_s, 4),
        latency_ms_b1=latency_ms["latency_ms_b1"],
        latency_ms_b32=latency_ms["latency_ms_b32"],
        epochs_run=len(history),
        best_epoch=state.best_epoch,
        n_train_images=n_train_images,
        epoch_images=epoch_images,
        dtype_policy=dtype_policy,
        replicas=replicas,
        traced_epochs=tuple(state.traced_epochs),
        gradient_accumulation=state.accumulation,
        micro_batch_size=micro_batch_size,
        peak_memory_gib=peak_memory[0],
        peak_memory_upper_bound=peak_memory[1],
    )


# Figures of `skinbench bench`: each timed for at least MIN_FIGURE_SECONDS, FIGURE_REPEATS times.

#: The shortest a repeat of one bench figure may last, and how many repeats make a figure.
MIN_FIGURE_SECONDS = 3.0
FIGURE_REPEATS = 3
#: A repeat's number of calls is planned this much above what the calibration predicts, so a
#: slightly faster repeat still lasts the minimum; a repeat that falls short is redone longer.
_PLAN_MARGIN = 1.25


def block_until_ready(tree: object) -> object:
    """Wait until every array in ``tree`` has been computed, and return ``tree``.

    JAX and TensorFlow on a GPU return from a call as soon as the work is queued; a clock read
    before the results exist would time the queueing. JAX waits on its arrays without copying
    them (``jax.block_until_ready``); other backends copy each array to the host
    (``keras.ops.convert_to_numpy``), so pass small arrays there (a step counter, an output).
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.block_until_ready(tree)
    for leaf in keras.tree.flatten(tree):
        keras.ops.convert_to_numpy(leaf)
    return tree


@dataclass(frozen=True)
class Figure:
    """One figure timed several times: ``calls`` calls per repeat, seconds per call of each repeat."""

    per_call_s: tuple[float, ...]  #: one entry per repeat
    calls: int  #: calls per repeat, chosen after a calibration
    shortest_repeat_s: float  #: the wall time of the shortest repeat

    @property
    def median_s(self) -> float:
        return statistics.median(self.per_call_s)

    @property
    def min_s(self) -> float:
        return min(self.per_call_s)

    @property
    def max_s(self) -> float:
        return max(self.per_call_s)


def repeated_figure(
    run: Callable[[int], object],
    *,
    min_calls: int,
    min_seconds: float = MIN_FIGURE_SECONDS,
    repeats: int = FIGURE_REPEATS,
    clock: Callable[[], float] = time.perf_counter,
) -> Figure:
    """Time ``run(calls)`` (``calls`` calls, blocking until their results are ready) ``repeats`` times.

    A calibration run of ``min_calls`` calls comes first (untimed in the figure); from it the
    number of calls is chosen so that one repeat lasts at least ``min_seconds`` (never fewer
    than ``min_calls``). A repeat that still falls short of ``min_seconds`` (a fixed cost per
    run, such as ``fit``'s setup, makes the calibration's time per call too high) makes the
    calls grow from its own time, by at least ``_PLAN_MARGIN``, and every repeat start again,
    so every repeat of the figure returned lasts at least ``min_seconds``.
    """
    if min_calls < 1 or repeats < 1:
        raise ValueError("min_calls and repeats must be at least 1")

    def seconds(calls: int) -> float:
        start = clock()
        run(calls)
        return clock() - start

    calls, last = min_calls, seconds(min_calls)  # calibration
    while True:
        if last < min_seconds:
            calls = max(calls + 1, math.ceil(calls * _PLAN_MARGIN * min_seconds / max(last, 1e-9)))
        times: list[float] = []
        for _ in range(repeats):
            times.append(seconds(calls))
            if times[-1] < min_seconds:
                break
        if len(times) == repeats and min(times) >= min_seconds:
            return Figure(tuple(t / calls for t in times), calls, min(times))
        last = min(times)  # too short: at least 1.25 times more calls next round


def sized_batch(inputs: dict, batch_size: int) -> dict:
    """The first ``batch_size`` samples of ``inputs``, repeated when there are fewer."""
    batch = {name: value[:batch_size] for name, value in inputs.items()}
    if len(batch["image"]) < batch_size:
        batch = {name: np.resize(value, (batch_size, *value.shape[1:])) for name, value in batch.items()}
    return batch


def predict_on_batch_calls(model: keras.Model, batch: dict, calls: int) -> None:
    """``calls`` calls of ``predict_on_batch``; each returns NumPy arrays, so each has finished."""
    for _ in range(calls):
        model.predict_on_batch(batch)


def stateless_predictor(model: keras.Model, *, jit: bool) -> tuple[Callable[[dict], object], str]:
    """A compiled inference function of ``model`` over its current weights (outputs left on the
    device) and what it is (``train.predictor.Predictor``): what a GPU needs for one prediction,
    without ``predict_on_batch``'s per-call handling of the model's variables. Time it with
    :func:`block_until_ready` on its outputs."""
    from skinbench.train.predictor import Predictor

    predictor = Predictor(model, jit=jit)
    return predictor.bind(), predictor.description


def stateless_calls(predict: Callable[[dict], object], batch: dict, calls: int) -> None:
    """``calls`` calls of a :func:`stateless_predictor` function, then a wait for the last outputs.

    Calls on one device run in order, so the last call's outputs are ready only after every
    call before it.
    """
    outputs = None
    for _ in range(calls):
        outputs = predict(batch)
    block_until_ready(outputs)

"""Train one cell with Keras ``fit`` and write its results (METHOD.md, "Training recipes").

The cell's schedule (``config.Schedule``, per recipe) sets the batch, Adam's learning rate
(epsilon 0.1), whether ReduceLROnPlateau acts on the validation loss (factor 0.2, patience 5,
floor 1e-7), the EarlyStopping rule and the epoch cap; the weights of the best
validation-accuracy epoch are evaluated. The validation loss is the unweighted cross-entropy for
every recipe: Keras 2's ``fit(class_weight=...)``, which the author's code used, weights the
training loss only, so that is what its ReduceLROnPlateau and EarlyStopping watched. The cell
resumes from its checkpoint (``train.state``) and writes history.csv, predictions.csv,
metrics.json, model.json and timing.json (``skinbench.records``) into its folder; the runner
writes config.json, env.json and status.json.

A cell that runs out of device memory at its batch size is retried once with gradient
accumulation (``retry_accumulation``): micro-batches that add up to the same batch, through
Keras's ``gradient_accumulation_steps`` (the optimizer steps once per batch, on the mean of
the micro-batches' gradients, so the data seen per step is unchanged). What changes:
BatchNormalization normalises each micro-batch with its own statistics and updates its moving
averages once per micro-batch. timing.json records what ran.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable, ContextManager, Sequence

import keras
import numpy as np

from skinbench.classes import CLASSES, NUM_CLASSES
from skinbench.config import Schedule, Settings
from skinbench.console import err_console
from skinbench.errors import RunError
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import read_predictions, write_predictions
from skinbench.records import (
    CHECKPOINT_DIR,
    MODEL_FILE,
    PREDICTIONS_FILE,
    VAL_PREDICTIONS_FILE,
    CellMetrics,
    InferenceInfo,
    ModelSummary,
    write_history,
)
from skinbench.train import timing
from skinbench.train.env import PeakMemory
from skinbench.train.inputs import CellInputs
from skinbench.train.precision import precision_policy
from skinbench.train.predictor import Predictor
from skinbench.train.state import Checkpoint, EpochState, StopRequest, TrainingState

LEARNING_RATE = 1e-3
ADAM_EPSILON = 0.1
REDUCE_LR = {"monitor": "val_loss", "factor": 0.2, "patience": 5, "min_lr": 1e-7}
#: Micro-batches per batch when a cell that ran out of device memory is retried (fewer when the
#: batch size does not divide by it).
RETRY_ACCUMULATION = 4
#: Words by which the backends name an out-of-memory error (TensorFlow's ResourceExhaustedError,
#: XLA's RESOURCE_EXHAUSTED status under JAX, PyTorch's OutOfMemoryError).
_OUT_OF_MEMORY = ("ResourceExhausted", "RESOURCE_EXHAUSTED", "OutOfMemory", "out of memory", "Out of memory")


class CellFailed(Exception):
    """Training cannot go on (the loss became NaN); the cell is recorded as failed."""


def jit_compile(jit: bool) -> bool:
    """XLA when asked; always on JAX, whose training step is only usable compiled."""
    return jit or keras.backend.backend() == "jax"


def compile_model(
    model: keras.Model,
    *,
    class_weights: np.ndarray | None,
    jit: bool,
    learning_rate: float = LEARNING_RATE,
    accumulation: int = 1,
) -> None:
    """Adam at ``learning_rate`` and (class-weighted when ``class_weights`` is given) categorical
    cross-entropy. ``accumulation`` > 1: the optimizer steps once per that many micro-batches.
    """
    if class_weights is None:
        loss = keras.losses.CategoricalCrossentropy()
    else:
        from skinbench.train.loss import weighted_categorical_crossentropy

        loss = weighted_categorical_crossentropy(class_weights)
    optimizer = keras.optimizers.Adam(
        learning_rate=learning_rate, epsilon=ADAM_EPSILON, gradient_accumulation_steps=accumulation if accumulation > 1 else None
    )
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=jit_compile(jit))
    _create_training_variables(model)


def _create_training_variables(model: keras.Model) -> None:
    """Create the optimizer's slots and the metrics' totals now, outside any traced function.

    Keras leaves them to the first trace of the train step when no distribution strategy is
    set; variables created inside a ``tf.function`` make TensorFlow trace the whole step a
    second time (on the smoke matrix the train step's tracing took 2.8 times as long; see the
    performance logbook, docs/performance.md).
    """
    model.optimizer.build(model.trainable_variables)
    labels = np.eye(NUM_CLASSES, dtype="float32")[:1]
    model.compute_metrics(None, labels, labels, sample_weight=None)
    model.reset_metrics()


def distribution() -> tuple[ContextManager, int]:
    """A data-parallel scope and replica count (several GPUs on TensorFlow), else none and 1."""
    if keras.backend.backend() == "tensorflow":
        from skinbench.train.tf_distribute import mirrored_scope

        return mirrored_scope()
    return contextlib.nullcontext(), 1


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it came from) is the device running out of memory."""
    seen: BaseException | None = exc
    while seen is not None:
        if any(word in f"{type(seen).__name__}: {seen}" for word in _OUT_OF_MEMORY):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_accumulation(batch_size: int) -> int | None:
    """Micro-batches per batch for the retry after an out-of-memory error, or None when the batch
    does not split (a batch of 1, or an odd one)."""
    for k in range(RETRY_ACCUMULATION, 1, -1):
        if batch_size % k == 0:
            return k
    return None


def train_cell(
    build: Callable[[], keras.Model],
    inputs: CellInputs,
    folder: Path,
    *,
    seed: int,
    settings: Settings,
    schedule: Schedule,
    stop: StopRequest,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    backbone: str | None = None,
) -> None:
    """Train (or resume) one cell and write its result files into ``folder``.

    ``schedule`` is the cell's (``Settings.schedule_for(recipe)``: its batch size and epoch cap
    resolved). ``backbone`` picks the measured policy of ``--precision auto``. The gradient
    accumulation is ``settings``'s, else the checkpoint's (a resumed retry), else 1; a cell without
    a fixed one that runs out of device memory starts again once with ``retry_accumulation``
    micro-batches.

    Raises ``CellFailed`` on a NaN loss and ``KeyboardInterrupt`` when ``stop`` was requested
    (after the epoch in progress is saved); the checkpoint stays for the next run either way.
    """
    checkpoint = Checkpoint(folder / CHECKPOINT_DIR)
    accumulation = settings.gradient_accumulation or checkpoint.accumulation() or 1
    args = (build, inputs, folder, checkpoint)
    options = {
        "seed": seed, "settings": settings, "schedule": schedule, "stop": stop, "callbacks": callbacks, "backbone": backbone,
    }
    try:
        _train_cell(*args, accumulation=accumulation, **options)
    except Exception as exc:
        retry = retry_accumulation(schedule.batch_size)
        if settings.gradient_accumulation or accumulation > 1 or retry is None or not is_out_of_memory(exc):
            raise
        checkpoint.remove()
        keras.backend.clear_session(free_memory=True)
        err_console.print(
            f"[yellow]out of device memory[/] at batch {schedule.batch_size} in {folder.name}: training it again with "
            f"gradient accumulation, {retry} micro-batches of {schedule.batch_size // retry} (BatchNorm statistics "
            "then come from each micro-batch)",
            highlight=False,
        )
        _train_cell(*args, accumulation=retry, **options)


def _train_cell(
    build: Callable[[], keras.Model],
    inputs: CellInputs,
    folder: Path,
    checkpoint: Checkpoint,
    *,
    accumulation: int,
    seed: int,
    settings: Settings,
    schedule: Schedule,
    stop: StopRequest,
    callbacks: Sequence[keras.callbacks.Callback],
    backbone: str | None,
) -> None:
    """``train_cell`` with a given gradient accumulation."""
    keras.utils.set_random_seed(seed)
    policy = precision_policy(settings.precision, backbone)
    keras.mixed_precision.set_global_policy(policy)
    memory = PeakMemory()
    try:
        scope, replicas = distribution()
        if (schedule.batch_size // accumulation) % replicas:
            raise RunError(
                f"batch size {schedule.batch_size} does not split evenly over {replicas} GPUs"
                + (f" in {accumulation} micro-batches" if accumulation > 1 else "")
                + f"; set training.batch_size (--batch-size) to a multiple of {replicas * accumulation}"
            )
        steps = inputs.micro_batches(accumulation) if accumulation > 1 else inputs
        with scope:
            model = build()
            compile_model(
                model, class_weights=inputs.class_weights, jit=settings.jit, learning_rate=schedule.learning_rate,
                accumulation=accumulation,
            )
            state = checkpoint.restore(model) or TrainingState(accumulation=accumulation)
        predictor = Predictor(model, jit=jit_compile(settings.jit))
        if not state.done:
            _fit(model, steps, checkpoint, state, predictor, schedule=schedule, stop=stop, callbacks=callbacks, replicas=replicas)
        checkpoint.wait()
        checkpoint.load_best(model)
        _evaluate(model, predictor, steps, folder, state, replicas, policy=policy, memory=memory,
                  images_per_epoch=epoch_images(inputs), batch_size=schedule.batch_size)
        if settings.keep_model:
            keep_model(model, inputs, folder, backbone=backbone)
    finally:
        checkpoint.wait()
        keras.mixed_precision.set_global_policy("float32")


def _fit(
    model: keras.Model,
    inputs: CellInputs,
    checkpoint: Checkpoint,
    state: TrainingState,
    predictor: Predictor,
    *,
    schedule: Schedule,
    stop: StopRequest,
    callbacks: Sequence[keras.callbacks.Callback],
    replicas: int,
) -> None:
    from skinbench.train.progress import epoch_files

    validation = Validation(inputs.val, inputs.val_labels, predictor, replicas=replicas)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=schedule.monitor, patience=schedule.patience, min_delta=schedule.min_delta
    )
    # The schedule's learning-rate reduction (none in the author's augmented notebook).
    stateful = {"reduce_lr": keras.callbacks.ReduceLROnPlateau(**REDUCE_LR)} if schedule.reduce_lr else {}
    stateful["early_stopping"] = early_stopping
    recorder = EpochState(
        checkpoint,
        state,
        stateful=stateful,
        train_batches=inputs.train,
        stop=stop,
        validation=validation,
    )
    # Validation first: it adds val_loss and val_accuracy to the epoch's logs, which the others read.
    # No callback acts per batch except progress (async-safe), so Keras dispatches batch ends
    # asynchronously where the backend allows (JAX) and never waits for a step to read its loss;
    # a NaN loss is caught at the epoch's end (EpochState).
    model.fit(
        inputs.train,
        epochs=schedule.max_epochs,
        initial_epoch=state.epochs_done,
        shuffle=False,  # Batches orders each epoch by (seed, epoch); Keras' own shuffle would not resume
        # progress.json and the TensorBoard logs read the state the recorder has just saved.
        callbacks=[validation, *stateful.values(), recorder, *epoch_files(checkpoint.root.parent, state, schedule.max_epochs), *callbacks],
        verbose=0,
    )
    checkpoint.wait()  # the last save is written (or its error raised) before anything reads it
    if recorder.nan_epoch is not None:
        raise CellFailed(
            f"the loss became NaN in epoch {recorder.nan_epoch}; try --precision float32 or a smaller learning rate"
        )
    if recorder.interrupted:
        raise KeyboardInterrupt


def cross_entropy(one_hot: np.ndarray, probs: np.ndarray) -> float:
    """The mean categorical cross-entropy of probabilities, unweighted, as Keras computes it
    (each row renormalised, clipped to [epsilon, 1 - epsilon])."""
    epsilon = keras.config.epsilon()
    probs = np.clip(probs / probs.sum(axis=1, keepdims=True), epsilon, 1 - epsilon)
    return float(np.mean(-np.sum(one_hot * np.log(probs), axis=1)))


class Validation(keras.callbacks.Callback):
    """Validation at each epoch's end through the cell's compiled predictor, into the epoch's logs.

    Keras' own validation (``fit(validation_data=...)``) would compile a test step, once more
    for a short last batch, and ``predict_on_batch`` would gather the model's variables once per
    batch; the ``Predictor`` reads them once per validation and runs one program over the padded
    batches, the one that evaluates the reported part too. ``val_loss`` is the unweighted
    cross-entropy over the whole part (the module's docstring says why) and ``val_accuracy`` the
    share of arg-max hits. It first waits for the epoch's last training step, so ``train_end``
    closes the training time.
    """

    def __init__(self, batches, labels: np.ndarray, predictor: Predictor, *, replicas: int) -> None:
        super().__init__()
        self.batches = batches
        self.one_hot = np.eye(NUM_CLASSES, dtype="float32")[np.asarray(labels)]
        self.predictor = predictor
        self.replicas = replicas
        self.train_end = 0.0
        self.seconds = 0.0

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        keras.ops.convert_to_numpy(self.model.optimizer.iterations)  # blocks until the last step is done
        self.train_end = time.perf_counter()
        probs = predict_probabilities(self.model, self.batches, self.replicas, self.predictor)
        if logs is not None:
            logs["val_loss"] = cross_entropy(self.one_hot, probs)
            logs["val_accuracy"] = float(np.mean(probs.argmax(axis=1) == self.one_hot.argmax(axis=1)))
        self.seconds = time.perf_counter() - self.train_end


def epoch_images(inputs: CellInputs) -> int:
    """Images one training epoch sees: its batches, all full (data.pipeline)."""
    return len(inputs.train) * inputs.train.batch_size


def _evaluate(
    model: keras.Model,
    predictor: Predictor,
    inputs: CellInputs,
    folder: Path,
    state: TrainingState,
    replicas: int,
    *,
    policy: str,
    memory: PeakMemory,
    images_per_epoch: int,
    batch_size: int,
) -> None:
    """Predict the reported part with the best weights; write every result file but status.json."""
    from skinbench.models.accounting import summarize

    start = time.perf_counter()
    probs = predict_probabilities(model, inputs.report, replicas, predictor)
    eval_s = time.perf_counter() - start
    write_evaluation(folder, inputs, probs)
    if inputs.val_ids is not None:  # what calibration and operating points are fitted on
        val_probs = probs if inputs.report is inputs.val else predict_probabilities(model, inputs.val, replicas, predictor)
        write_predictions(folder / VAL_PREDICTIONS_FILE, inputs.val_ids, inputs.val_labels, val_probs)
    ModelSummary(**summarize(model), **_bare_backbone(folder)).write(folder)
    write_history(folder, state.history)
    sample, _ = inputs.report[0]
    peak_gib, upper_bound = memory.result()
    timing.summarize(
        state,
        n_train_images=inputs.n_train_images,
        epoch_images=images_per_epoch,
        dtype_policy=policy,
        eval_s=eval_s,
        latency_ms=timing.latency(model, sample),
        replicas=replicas,
        micro_batch_size=batch_size // state.accumulation,
        peak_memory=(peak_gib, upper_bound),
    ).write(folder)


def write_evaluation(folder: Path, inputs: CellInputs, probs: np.ndarray) -> CellMetrics:
    """predictions.csv of the reported part, then metrics.json computed from the file as written."""
    predictions = write_predictions(folder / PREDICTIONS_FILE, inputs.report_ids, inputs.report_labels, probs)
    _, y_true, saved_probs = read_predictions(predictions)
    metrics = CellMetrics(inputs.report_part, len(y_true), compute_metrics(y_true, saved_probs))
    metrics.write(folder)
    return metrics


def keep_model(model: keras.Model, inputs: CellInputs, folder: Path, *, backbone: str | None) -> None:
    """model.keras (the best-validation weights, preprocessing and soft attention inside) and inference.json.

    Saved to a temporary name first (Keras needs the ``.keras`` suffix) and renamed into place.
    """
    path = folder / MODEL_FILE
    partial = folder / f".partial-{MODEL_FILE}"
    try:
        model.save(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    InferenceInfo(
        model_file=MODEL_FILE,
        model_bytes=path.stat().st_size,
        backbone=backbone or model.name,
        image_size=int(inputs.report.images.shape[1]),
        resize_rule=inputs.resize_rule,
        classes=CLASSES,
        metadata_encoder=inputs.encoder,
    ).write(folder)


def _bare_backbone(folder: Path) -> dict:
    """model.json's ``backbone_*`` figures: the bare Keras application of the backbone that the
    cell's config.json names (the runner writes it before training); none without config.json."""
    from skinbench.models.accounting import backbone_summary
    from skinbench.records import CellConfig

    config = CellConfig.read_if_present(folder)
    return backbone_summary(config.backbone) if config is not None else {}


def predict_probabilities(model: keras.Model, batches, replicas: int, predictor: Predictor) -> np.ndarray:
    """Class probabilities of every sample of evaluation ``batches``, in order, padding dropped.

    On one device through ``predictor`` (one compiled program, the variables read once); several
    replicas need ``predict``'s distributed input. Every batch is full (data.pipeline pads the
    last one), so the program is compiled once.
    """
    if replicas > 1:
        return model.predict(batches, verbose=0)[: batches.n_samples]
    return predictor.probabilities(batches)

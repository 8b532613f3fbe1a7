"""Train one cell with Keras ``fit`` and write its results (METHOD.md, "Training recipes").

The cell's schedule (``config.Schedule``, per recipe) sets Adam's learning rate (epsilon 0.1),
whether ReduceLROnPlateau acts on the validation loss (factor 0.2, patience 5, floor 1e-7), the
EarlyStopping rule and the epoch cap; the weights of the best validation-accuracy epoch are
evaluated. The cell resumes from its checkpoint
(``train.state``) and writes history.csv, predictions.csv, metrics.json, model.json and
timing.json (``skinbench.records``) into its folder; the runner writes config.json, env.json
and status.json.
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
from skinbench.errors import RunError
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import read_predictions, write_predictions
from skinbench.records import (
    CHECKPOINT_DIR,
    MODEL_FILE,
    PREDICTIONS_FILE,
    CellMetrics,
    InferenceInfo,
    ModelSummary,
    write_history,
)
from skinbench.train import timing
from skinbench.train.inputs import CellInputs
from skinbench.train.precision import precision_policy
from skinbench.train.state import Checkpoint, EpochState, StopRequest, TrainingState

LEARNING_RATE = 1e-3
ADAM_EPSILON = 0.1
REDUCE_LR = {"monitor": "val_loss", "factor": 0.2, "patience": 5, "min_lr": 1e-7}


class CellFailed(Exception):
    """Training cannot go on (the loss became NaN); the cell is recorded as failed."""


def jit_compile(jit: bool) -> bool:
    """XLA when asked; always on JAX, whose training step is only usable compiled."""
    return jit or keras.backend.backend() == "jax"


def compile_model(
    model: keras.Model, *, class_weights: np.ndarray | None, jit: bool, learning_rate: float = LEARNING_RATE
) -> None:
    """Adam at ``learning_rate`` and (class-weighted when ``class_weights`` is given) categorical cross-entropy."""
    if class_weights is None:
        loss = keras.losses.CategoricalCrossentropy()
    else:
        from skinbench.train.loss import weighted_categorical_crossentropy

        loss = weighted_categorical_crossentropy(class_weights)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, epsilon=ADAM_EPSILON),
        loss=loss,
        metrics=["accuracy"],
        jit_compile=jit_compile(jit),
    )
    _create_training_variables(model)


def _create_training_variables(model: keras.Model) -> None:
    """Create the optimizer's slots and the metrics' totals now, outside any traced function.

    Keras leaves them to the first trace of the train step when no distribution strategy is
    set; variables created inside a ``tf.function`` make TensorFlow trace the whole step a
    second time (on the smoke matrix the train step's tracing took 2.8 times as long; see the
    README's performance section).
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
    resolved). ``backbone`` picks the measured policy of ``--precision auto``.

    Raises ``CellFailed`` on a NaN loss and ``KeyboardInterrupt`` when ``stop`` was requested
    (after the epoch in progress is saved); the checkpoint stays for the next run either way.
    """
    keras.utils.set_random_seed(seed)
    policy = precision_policy(settings.precision, backbone)
    keras.mixed_precision.set_global_policy(policy)
    try:
        scope, replicas = distribution()
        if schedule.batch_size % replicas:
            raise RunError(
                f"batch size {schedule.batch_size} does not split evenly over {replicas} GPUs; give --batch-size, "
                f"a multiple of {replicas}"
            )
        with scope:
            model = build()
            compile_model(model, class_weights=inputs.class_weights, jit=settings.jit, learning_rate=schedule.learning_rate)
            checkpoint = Checkpoint(folder / CHECKPOINT_DIR)
            state = checkpoint.restore(model) or TrainingState()
        if not state.done:
            _fit(model, inputs, checkpoint, state, schedule=schedule, stop=stop, callbacks=callbacks, replicas=replicas)
        model.load_weights(checkpoint.best_weights())
        _evaluate(model, inputs, folder, state, replicas, epoch_images(inputs), policy)
        if settings.keep_model:
            keep_model(model, inputs, folder, backbone=backbone)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _fit(
    model: keras.Model,
    inputs: CellInputs,
    checkpoint: Checkpoint,
    state: TrainingState,
    *,
    schedule: Schedule,
    stop: StopRequest,
    callbacks: Sequence[keras.callbacks.Callback],
    replicas: int,
) -> None:
    from skinbench.train.progress import epoch_files

    validation = Validation(inputs.val, inputs.val_labels, replicas=replicas)
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
    if recorder.nan_epoch is not None:
        raise CellFailed(
            f"the loss became NaN in epoch {recorder.nan_epoch}; try --precision float32 or a smaller learning rate"
        )
    if recorder.interrupted:
        raise KeyboardInterrupt


class Validation(keras.callbacks.Callback):
    """Validation at each epoch's end through the predict program, into the epoch's logs.

    Keras' own validation (``fit(validation_data=...)``) would compile a test step, once more
    for a short last batch; the padded batches and ``predict_probabilities`` reuse the one
    program that evaluation and latency use. ``val_loss`` is the compiled loss over the whole
    part and ``val_accuracy`` the share of arg-max hits: what ``evaluate`` gives. It first
    waits for the epoch's last training step, so ``train_end`` closes the training time.
    """

    def __init__(self, batches: keras.utils.PyDataset, labels: np.ndarray, *, replicas: int) -> None:
        super().__init__()
        self.batches = batches
        self.one_hot = np.eye(NUM_CLASSES, dtype="float32")[np.asarray(labels)]
        self.replicas = replicas
        self.train_end = 0.0
        self.seconds = 0.0

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        keras.ops.convert_to_numpy(self.model.optimizer.iterations)  # blocks until the last step is done
        self.train_end = time.perf_counter()
        probs = predict_probabilities(self.model, self.batches, self.replicas)
        loss = self.model.loss(keras.ops.convert_to_tensor(self.one_hot), keras.ops.convert_to_tensor(probs))
        if logs is not None:
            logs["val_loss"] = float(keras.ops.convert_to_numpy(loss))
            logs["val_accuracy"] = float(np.mean(probs.argmax(axis=1) == self.one_hot.argmax(axis=1)))
        self.seconds = time.perf_counter() - self.train_end


def epoch_images(inputs: CellInputs) -> int:
    """Images one training epoch sees: its batches, all full (data.pipeline)."""
    return len(inputs.train) * inputs.train.batch_size


def _evaluate(
    model: keras.Model,
    inputs: CellInputs,
    folder: Path,
    state: TrainingState,
    replicas: int,
    images_per_epoch: int,
    policy: str,
) -> None:
    """Predict the reported part with the best weights; write every result file but status.json."""
    from skinbench.models.accounting import summarize

    start = time.perf_counter()
    probs = predict_probabilities(model, inputs.report, replicas)
    eval_s = time.perf_counter() - start
    predictions = write_predictions(folder / PREDICTIONS_FILE, inputs.report_ids, inputs.report_labels, probs)
    _, y_true, saved_probs = read_predictions(predictions)  # metrics from the file as written
    metrics = compute_metrics(y_true, saved_probs)
    CellMetrics(inputs.report_part, len(y_true), metrics).write(folder)
    ModelSummary(**summarize(model), **_bare_backbone(folder)).write(folder)
    write_history(folder, state.history)
    sample, _ = inputs.report[0]
    timing.summarize(
        state,
        n_train_images=inputs.n_train_images,
        epoch_images=images_per_epoch,
        dtype_policy=policy,
        eval_s=eval_s,
        latency_ms=timing.latency(model, sample),
        replicas=replicas,
    ).write(folder)


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


def predict_probabilities(model: keras.Model, batches: keras.utils.PyDataset, replicas: int) -> np.ndarray:
    """Class probabilities of every sample of evaluation ``batches``, in order, padding dropped.

    On one device the batches go through ``predict_on_batch``, whose traced function the
    latency measurement then reuses; ``predict`` hands the step another structure, which
    TensorFlow would trace twice more. Several replicas need ``predict``'s distributed input.
    Every batch is full (data.pipeline pads the last one), so the program is compiled once.
    """
    if replicas > 1:
        probs = model.predict(batches, verbose=0)
    else:
        probs = np.concatenate([model.predict_on_batch(batches[index][0]) for index in range(len(batches))])
    return probs[: batches.n_samples]

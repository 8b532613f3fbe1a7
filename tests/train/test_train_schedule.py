"""The schedules: the paper's text, and the author's notebooks per recipe (--schedule code): epochs of
ceil(len(train) / 10) batches from one stream of passes, the batch, optimizer, loss weights and stopping rule."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import keras
import numpy as np
import pytest

from skinbench.catalogue import AUTHOR_METADATA_BATCH
from skinbench.config import SCHEDULES, Schedule, Settings
from skinbench.data.pipeline import Batches
from skinbench.records import CellConfig, ScheduleRecord, Timing, read_history, read_split


def _batches(n: int, batch_size: int = 8, steps: int | None = None) -> Batches:
    """Training batches whose metadata feature is the sample's index, so a batch names its samples."""
    images = np.zeros((n, 2, 2, 3), dtype=np.uint8)
    ids = np.arange(n, dtype=np.float32)[:, None]
    return Batches(images, np.arange(n), np.arange(n) % 7, ids, batch_size=batch_size, shuffle=True, seed=3, steps=steps)


def _ids(batch) -> list[int]:
    return batch[0]["metadata"][:, 0].astype(int).tolist()


def _epoch(batches: Batches, epoch: int) -> list[list[int]]:
    batches.set_epoch(epoch)
    return [_ids(batches[i]) for i in range(len(batches))]


def test_the_code_schedule_is_the_notebooks_per_recipe() -> None:
    metadata, augmented = SCHEDULES["code"]["metadata"], SCHEDULES["code"]["augmented"]
    assert (metadata.batch_size, metadata.learning_rate, metadata.reduce_lr, metadata.class_weights) == (10, 1e-3, True, "balanced")
    assert (metadata.monitor, metadata.patience, metadata.min_delta, metadata.max_epochs) == ("val_loss", 35, 0.001, 500)
    assert (augmented.batch_size, augmented.learning_rate, augmented.reduce_lr, augmented.class_weights) == (
        16, 1e-2, False, "melanoma x5")
    assert (augmented.monitor, augmented.patience, augmented.min_delta, augmented.max_epochs) == ("val_loss", 30, 0.001, 150)
    assert augmented.augment_per_class == 8000 and metadata.augment_per_class is None
    assert "IRV2+SA_15split.ipynb" in augmented.follows and "10split-LRStrategy.ipynb" in metadata.follows
    for paper in SCHEDULES["paper"].values():
        assert (paper.batch_size, paper.epoch_steps(8962), paper.learning_rate, paper.monitor, paper.patience) == (
            32, None, 1e-3, "val_accuracy", 25)
    assert SCHEDULES["paper"]["augmented"].class_weights is None and SCHEDULES["paper"]["metadata"].class_weights == "balanced"


def test_a_schedule_is_built_by_field_name() -> None:
    """Twelve values in a row are a bare tuple: a Schedule names each."""
    paper = SCHEDULES["paper"]["metadata"]
    assert Schedule(**dataclasses.asdict(paper)) == paper
    with pytest.raises(TypeError):
        Schedule(*dataclasses.astuple(paper))


def test_settings_put_batch_size_and_epochs_in_place_of_the_schedules() -> None:
    assert (Settings(schedule="code").schedule_for("metadata").batch_size, Settings(schedule="code").schedule_for("metadata").max_epochs) == (10, 500)
    given = Settings(schedule="code", batch_size=16, epochs=3).schedule_for("augmented")
    assert (given.batch_size, given.max_epochs, given.learning_rate) == (16, 3, 1e-2)


@pytest.mark.parametrize("n", [8962, 9187, 6970, 151])
def test_an_epoch_is_what_keras_2_ran_for_steps_per_epoch_len_over_10(n: int) -> None:
    """The notebooks' fit(arrays, steps_per_epoch=len(train_df) / 10) without a batch size, run in tf.keras 2
    (tf-keras): ceil(n / 10) steps of 10 images, one pass. The code schedule's epoch has as many batches."""
    import tf_keras

    x = np.zeros((n, 1), dtype="float32")
    y = np.eye(7, dtype="float32")[np.arange(n) % 7]
    model = tf_keras.Sequential([tf_keras.layers.Input((1,)), tf_keras.layers.Dense(7, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    sizes: list[int] = []

    class Count(tf_keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            sizes.append(batch)

    real_step = model.train_step

    def step(data):
        import tensorflow as tf

        tf.py_function(lambda size: sizes.append(-int(size)), [tf.shape(data[0])[0]], [])
        return real_step(data)

    model.train_step = step
    model.fit(x, y, steps_per_epoch=n / 10, epochs=1, verbose=0)
    batch_sizes = [-s for s in sizes if s < 0]
    assert len(batch_sizes) == SCHEDULES["code"]["metadata"].epoch_steps(n) == math.ceil(n / 10)
    assert set(batch_sizes[:-1]) == {AUTHOR_METADATA_BATCH} and sum(batch_sizes) == n  # one pass in batches of 10


def test_the_augmented_set_grows_every_class_to_the_notebooks_count() -> None:
    from skinbench.data.augment import copies_per_class, per_class_target_total

    labels = np.repeat(np.arange(7), [304, 488, 1033, 109, 1079, 6042, 132])  # IRV2+SA_15split's training part
    target = per_class_target_total(labels, 8000)
    counts = np.bincount(labels, minlength=7) + copies_per_class(labels, target)
    assert target == 7 * 8000 and list(counts) == [8000] * 7
    big = np.repeat(np.arange(7), [10, 10, 10, 10, 10, 9000, 10])
    grown = np.bincount(big, minlength=7) + copies_per_class(big, per_class_target_total(big, 8000))
    assert grown[5] == 9000 and set(np.delete(grown, 5)) == {8000}  # a larger class keeps its own


@pytest.mark.parametrize("n", [50, 5000])
def test_an_epoch_of_fixed_steps_whatever_the_training_part(n: int) -> None:
    assert len(_batches(n, steps=897)) == 897
    assert len(_batches(n)) == max(1, n // 8)  # the paper schedule: one pass less the remainder


def test_epochs_are_full_batches_of_one_stream_of_passes() -> None:
    batches = _batches(30, steps=3)  # a pass is 3.75 batches
    stream = [int(i) for p in range(4) for i in batches.order(p)]  # 120 images: passes 0-3
    served = [batch for epoch in range(5) for batch in _epoch(batches, epoch)]
    # the stream cut into full batches (a batch lists its images in cache order, for the memmap)
    assert served == [sorted(stream[8 * b:8 * b + 8]) for b in range(15)]
    assert all(len(batch) == 8 for epoch in range(5) for batch in _epoch(batches, epoch))
    assert list(batches.order(0)) != list(batches.order(1))  # each pass its own shuffle


def test_the_remainder_rotates_so_no_image_is_left_out_more_than_once_more_than_another() -> None:
    batches = _batches(30)  # 3 full batches an epoch, 6 images over each pass
    counts = np.zeros(30, dtype=int)
    for epoch in range(7):
        for batch in _epoch(batches, epoch):
            counts[batch] += 1
    assert counts.sum() == 7 * 24 and counts.max() - counts.min() <= 1


def test_a_resumed_epoch_serves_the_same_batches() -> None:
    first, resumed = _batches(30, steps=3), _batches(30, steps=3)  # the second stands for a new process
    assert _epoch(first, 5) == _epoch(resumed, 5)


def test_evaluation_batches_are_padded_and_in_order() -> None:
    images = np.zeros((10, 2, 2, 3), dtype=np.uint8)
    ids = np.arange(10, dtype=np.float32)[:, None]
    batches = Batches(images, np.arange(10)[::-1], np.arange(10) % 7, ids, batch_size=4, shuffle=False)
    assert batches.n_samples == 10 and len(batches) == 3
    assert [_ids(batches[i]) for i in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 9, 9]]


def test_run_with_the_code_schedule(tmp_path: Path, run_args: list[str], invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import skinbench.train.trainer as trainer

    seen: dict[str, list] = {"early_stopping": [], "reduce_lr": [], "learning_rate": [], "class_weights": []}
    real_stopping, real_reduce, real_compile = keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau, trainer.compile_model

    def early_stopping(**kwargs):
        seen["early_stopping"].append(kwargs)
        return real_stopping(**kwargs)

    def reduce_lr(**kwargs):
        seen["reduce_lr"].append(kwargs)
        return real_reduce(**kwargs)

    def compile_model(model, *, class_weights, jit, learning_rate, accumulation):
        seen["learning_rate"].append(learning_rate)
        seen["class_weights"].append(None if class_weights is None else list(class_weights))
        return real_compile(model, class_weights=class_weights, jit=jit, learning_rate=learning_rate, accumulation=accumulation)

    monkeypatch.setattr(trainer.keras.callbacks, "EarlyStopping", early_stopping)
    monkeypatch.setattr(trainer.keras.callbacks, "ReduceLROnPlateau", reduce_lr)
    monkeypatch.setattr(trainer, "compile_model", compile_model)
    # The notebook's 8,000 images per class, scaled down for a 150-image set: the rule is the schedule's.
    small = dataclasses.replace(SCHEDULES["code"]["augmented"], augment_per_class=40)
    monkeypatch.setitem(SCHEDULES["code"], "augmented", small)
    without_batch = [arg for i, arg in enumerate(run_args) if arg != "--batch-size" and run_args[i - 1] != "--batch-size"]
    out = tmp_path / "run"
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--schedule", "code", "--epochs", "1", "--out", str(out), *without_batch])
    assert result.exit_code == 0, result.output
    n_train = int((read_split(out / "split-paper-s0.csv")["part"] == "train").sum())
    augmented, metadata = CellConfig.read(out / "tiny-augmented-paper-s0"), CellConfig.read(out / "tiny-metadata-paper-s0")
    assert (metadata.batch_size, augmented.batch_size, metadata.epochs) == (10, 16, 1)
    assert metadata.schedule == ScheduleRecord(
        "code", SCHEDULES["code"]["metadata"].follows, math.ceil(n_train / 10), 1e-3, True, "balanced", None,
        "val_loss", 35, 0.001,
    )
    assert augmented.schedule == ScheduleRecord(
        "code", small.follows, math.ceil(n_train / 10), 1e-2, False, "melanoma x5", 40, "val_loss", 30, 0.001,
    )
    # the augmented cell (trained first, in id order): Adam 0.01, melanoma x5, no learning-rate reduction
    assert seen["learning_rate"] == [1e-2, 1e-3] and seen["class_weights"][0] == [1, 1, 1, 1, 5, 1, 1]
    assert len(seen["reduce_lr"]) == 1  # the metadata cell's only
    assert seen["early_stopping"] == [
        {"monitor": "val_loss", "patience": 30, "min_delta": 0.001}, {"monitor": "val_loss", "patience": 35, "min_delta": 0.001}]
    for cell, config in (("tiny-augmented-paper-s0", augmented), ("tiny-metadata-paper-s0", metadata)):
        timing = Timing.read(out / cell)
        assert timing.epoch_images == math.ceil(n_train / 10) * config.batch_size  # full batches of the stream
    grown = Timing.read(out / "tiny-augmented-paper-s0").n_train_images
    assert 7 * 40 <= grown < n_train + 7 * 40  # every class grown to 40 images, a larger one keeping its own
    assert list(read_history(out / "tiny-metadata-paper-s0")["epoch"]) == [1]

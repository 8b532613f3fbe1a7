"""Batches: shapes and dtypes, full batches, every image once per evaluation pass, epoch order from (seed, epoch), Keras fit, no TensorFlow.

The training stream's epochs (remainder carried over, 896-batch epochs) are tested in tests/train/test_train_schedule.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from skinbench.data.pipeline import Batches

N, SIDE = 203, 8


@pytest.fixture
def images() -> np.ndarray:
    """Row r of the array carries r in its first two bytes, so a batch tells which rows it holds."""
    array = np.random.default_rng(0).integers(0, 256, (N + 20, SIDE, SIDE, 3), dtype=np.uint8)
    rows = np.arange(len(array))
    array[:, 0, 0, 0], array[:, 0, 0, 1] = rows // 256, rows % 256
    return array


def _rows_of(batch_images: np.ndarray) -> np.ndarray:
    return batch_images[:, 0, 0, 0].astype(int) * 256 + batch_images[:, 0, 0, 1]


def _epoch(batches: Batches) -> list:
    return [batches[i] for i in range(len(batches))]


def test_shapes_dtypes_and_one_hot(images: np.ndarray) -> None:
    rows = np.arange(10, 10 + N)
    labels = rows % 7
    metadata = np.random.default_rng(1).normal(size=(N, 21))
    batches = Batches(images, rows, labels, metadata, batch_size=32, seed=0)
    assert len(batches) == N // 32  # training: full batches only, the remainder goes to the next epoch
    inputs, targets = batches[0]
    assert set(inputs) == {"image", "metadata"}
    assert inputs["image"].dtype == np.uint8 and inputs["image"].shape == (32, SIDE, SIDE, 3)
    assert inputs["metadata"].dtype == np.float32 and inputs["metadata"].shape == (32, 21)
    assert targets.dtype == np.float32 and targets.shape == (32, 7) and (targets.sum(axis=1) == 1).all()
    got_rows = _rows_of(inputs["image"])
    np.testing.assert_array_equal(targets.argmax(axis=1), got_rows % 7)  # labels travel with their images
    np.testing.assert_allclose(inputs["metadata"], metadata[got_rows - 10].astype(np.float32))
    assert all(len(batches[i][0]["image"]) == 32 for i in range(len(batches)))
    no_metadata, _ = Batches(images, rows, labels, batch_size=32)[0]
    assert set(no_metadata) == {"image"}


def test_one_epoch_trains_on_distinct_images_and_evaluation_sees_each_once(images: np.ndarray) -> None:
    rows = np.random.default_rng(2).permutation(N + 20)[:N]
    batches = Batches(images, rows, np.zeros(N, dtype=int), batch_size=16, seed=5)
    seen = np.concatenate([_rows_of(inputs["image"]) for inputs, _ in _epoch(batches)])
    assert len(seen) == (N // 16) * 16 and len(set(seen)) == len(seen) and set(seen) <= set(rows)
    evaluation = Batches(images, rows, np.zeros(N, dtype=int), batch_size=16, shuffle=False)
    seen = np.concatenate([_rows_of(inputs["image"]) for inputs, _ in _epoch(evaluation)])
    assert len(seen) == len(evaluation) * 16 and list(seen[:N]) == list(rows)  # then padding


def test_epoch_order_is_a_function_of_seed_and_epoch(images: np.ndarray) -> None:
    rows, labels = np.arange(N), np.arange(N) % 7

    def order(seed: int, epoch: int) -> np.ndarray:
        batches = Batches(images, rows, labels, batch_size=16, seed=seed)
        batches.set_epoch(epoch)
        return np.concatenate([_rows_of(inputs["image"]) for inputs, _ in _epoch(batches)])

    assert np.array_equal(order(0, 3), order(0, 3))
    assert not np.array_equal(order(0, 3), order(0, 4))
    assert not np.array_equal(order(1, 3), order(0, 3))
    running = Batches(images, rows, labels, batch_size=16, seed=0)
    for _ in range(3):
        running.on_epoch_end()
    assert np.array_equal(np.concatenate([_rows_of(i["image"]) for i, _ in _epoch(running)]), order(0, 3))


def test_unshuffled_batches_keep_the_given_order(images: np.ndarray) -> None:
    """Batch i holds samples 50i .. 50i + 49 of the given order, in that order, in every epoch;
    the last batch is padded to 50 with its last sample."""
    rows = np.random.default_rng(3).permutation(N)
    batches = Batches(images, rows, np.zeros(N, dtype=int), batch_size=50, shuffle=False)
    expected = np.concatenate([rows, np.repeat(rows[-1], 5 * 50 - N)])
    assert batches.n_samples == N
    for epoch in (0, 7):
        batches.set_epoch(epoch)
        seen = np.concatenate([_rows_of(inputs["image"]) for inputs, _ in _epoch(batches)])
        np.testing.assert_array_equal(seen, expected)


def test_mismatched_inputs_are_refused(images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="203 rows, 202 labels"):
        Batches(images, np.arange(N), np.zeros(N - 1, dtype=int))


def test_feeds_keras_fit(images: np.ndarray) -> None:
    import keras

    image = keras.Input((SIDE, SIDE, 3), dtype="uint8", name="image")
    metadata = keras.Input((4,), name="metadata")
    features = keras.layers.Concatenate()([keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(image)), metadata])
    model = keras.Model({"image": image, "metadata": metadata}, keras.layers.Dense(7, activation="softmax")(features))
    model.compile("adam", "categorical_crossentropy")
    batches = Batches(images, np.arange(N), np.arange(N) % 7, np.ones((N, 4)), batch_size=64, seed=0)
    history = model.fit(batches, epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_data_modules_import_no_tensorflow() -> None:
    modules = ["ham10000", "synthetic", "splits", "metadata", "cache", "augment", "pipeline"]
    code = (
        "import sys\n"
        + "".join(f"import skinbench.data.{name}\n" for name in modules)
        + "import skinbench.commands.data\n"
        + "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        + "import keras; assert keras.backend.backend() == 'jax'\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_micro_batches_split_each_batch_of_the_stream() -> None:
    """k consecutive micro-batches hold exactly one batch's samples, epoch after epoch."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (70, 4, 4, 3), dtype=np.uint8)
    batches = Batches(images, np.arange(70), rng.integers(0, 7, 70), batch_size=16, seed=5, steps=6)
    micro = batches.micro_batches(4)
    assert (micro.batch_size, len(micro)) == (4, 24)
    for epoch in (0, 3):
        for index in range(len(batches)):
            whole = batches.samples(epoch, index)
            parts = np.concatenate([micro.samples(epoch, 4 * index + j) for j in range(4)])
            np.testing.assert_array_equal(parts, whole)
    evaluation = Batches(images, np.arange(70), rng.integers(0, 7, 70), batch_size=16, shuffle=False).micro_batches(2)
    assert (evaluation.batch_size, evaluation.n_samples, len(evaluation)) == (8, 70, 9)
    with pytest.raises(ValueError, match="does not split into 3"):
        batches.micro_batches(3)

"""Class weights W_c = N / (C * N_c) and the class-weighted cross-entropy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from skinbench.errors import ModelError
from skinbench.train.loss import (
    WeightedCategoricalCrossentropy,
    class_weights,
    weighted_categorical_crossentropy,
)

# Paper Table 2: akiec, bcc, bkl, df, mel, nv, vasc.
HAM10000_COUNTS = [327, 514, 1099, 115, 1113, 6705, 142]


def test_class_weights_follow_the_formula() -> None:
    labels = np.repeat(np.arange(7), HAM10000_COUNTS)
    weights = class_weights(labels)
    assert weights[5] == pytest.approx(10015 / (7 * 6705))  # nv
    assert weights[3] == pytest.approx(10015 / (7 * 115))  # df
    # Every class then carries the same total weight, N / C.
    np.testing.assert_allclose(weights * HAM10000_COUNTS, 10015 / 7)


def test_absent_class_gets_zero_and_bad_labels_are_refused() -> None:
    np.testing.assert_allclose(class_weights([0, 0, 2], num_classes=3), [3 / (3 * 2), 0.0, 3 / 3])
    with pytest.raises(ModelError):
        class_weights([0, 7])
    with pytest.raises(ModelError):
        class_weights([])


def test_loss_is_the_weighted_mean_of_cross_entropies() -> None:
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 3.0, 7)
    targets = np.eye(7)[rng.integers(0, 7, 16)].astype("float32")
    probs = rng.dirichlet(np.ones(7), 16).astype("float32")
    expected = np.mean(-(weights * targets * np.log(probs)).sum(axis=1))
    loss = weighted_categorical_crossentropy(weights)
    assert float(keras.ops.convert_to_numpy(loss(targets, probs))) == pytest.approx(expected, rel=1e-5)


def test_loss_serialises() -> None:
    loss = weighted_categorical_crossentropy([1.0, 2.0, 0.5])
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, WeightedCategoricalCrossentropy)
    assert clone.get_config()["weights"] == [1.0, 2.0, 0.5]

"""The paper's loss: categorical cross-entropy, class-weighted for the ``metadata`` recipe.

L = -1/N * sum_n sum_c W_c * y_nc * log(p_nc), with W_c = N / (C * N_c) from the training
split's counts (N samples, C classes, N_c in class c). The ``augmented`` recipe is unweighted.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from skinbench.classes import NUM_CLASSES
from skinbench.errors import ModelError


def class_weights(labels: Sequence[int] | np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """W_c = N / (C * N_c) from integer labels (indices into ``skinbench.classes.CLASSES``).

    A class with no training sample gets weight 0: no term of the loss carries it.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ModelError("class weights need a non-empty 1-D array of integer labels")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ModelError(f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = labels.size / (num_classes * counts[present])
    return weights


@keras.saving.register_keras_serializable(package="skinbench")
class WeightedCategoricalCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy with one weight per class, averaged over the batch.

    With one-hot targets each sample's loss is its true class's weight times its usual
    cross-entropy; ``weights * y_true`` keeps the same formula for soft targets.
    """

    def __init__(self, weights: Sequence[float], name: str = "weighted_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weights = [float(w) for w in weights]

    def call(self, y_true, y_pred):
        weights = keras.ops.convert_to_tensor(self.weights, dtype=y_pred.dtype)
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        return keras.losses.categorical_crossentropy(y_true * weights, y_pred)

    def get_config(self) -> dict:
        return {**super().get_config(), "weights": self.weights}


def weighted_categorical_crossentropy(weights: Sequence[float] | np.ndarray) -> WeightedCategoricalCrossentropy:
    """The class-weighted loss for ``weights`` (e.g. ``class_weights(train_labels)``)."""
    return WeightedCategoricalCrossentropy(np.asarray(weights, dtype=np.float64).tolist())

"""The paper's loss: categorical cross-entropy, class-weighted by a cell's schedule.

L = -1/N * sum_n sum_c W_c * y_nc * log(p_nc). Under the paper's text the ``metadata`` recipe has
W_c = N / (C * N_c) from the training split's counts (N samples, C classes, N_c in class c) and the
``augmented`` recipe is unweighted; the author's augmented notebook (``--schedule code``) weighs
melanoma 5 and every other class 1 (``weights_by_rule``). Dividing by N, not by the sum of the
weights, is what Keras 2's ``fit(class_weight=...)`` did.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from skinbench.classes import CLASSES, NUM_CLASSES
from skinbench.config import BALANCED, MELANOMA_X5
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


#: The melanoma weight of config.MELANOMA_X5 (IRV2+SA_15split's ``class_weights``: 5.0 for mel, 1.0 for the rest).
MELANOMA_WEIGHT = 5.0


def weights_by_rule(rule: str, labels: Sequence[int] | np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """The class weights of a schedule's rule (config.BALANCED or config.MELANOMA_X5) for training ``labels``."""
    if rule == BALANCED:
        return class_weights(labels, num_classes)
    if rule == MELANOMA_X5:
        weights = np.ones(num_classes, dtype=np.float64)
        weights[CLASSES.index("mel")] = MELANOMA_WEIGHT
        return weights
    raise ModelError(f"unknown class-weight rule {rule!r}; the rules are {BALANCED!r} and {MELANOMA_X5!r}")


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

"""What one cell trains and is evaluated on: built by ``train.rundata``, consumed by ``train.trainer``."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass
class CellInputs:
    """The batches and facts of one cell's data."""

    train: keras.utils.PyDataset  #: shuffled; ``set_epoch(e)`` fixes epoch e's order
    val: keras.utils.PyDataset  #: model selection, padded evaluation batches in order
    val_labels: np.ndarray  #: the validation part's labels, in the batches' order
    report: keras.utils.PyDataset  #: the reported part, in order
    report_part: str
    report_ids: list[str]
    report_labels: np.ndarray
    n_train_images: int
    class_weights: np.ndarray | None  #: None: unweighted loss
    resize_rule: str  #: how the images were resized (data.cache)
    encoder: dict | None  #: the fitted metadata encoder (MetadataEncoder.to_dict), None without metadata

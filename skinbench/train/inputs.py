"""What one cell trains and is evaluated on: built by ``train.rundata``, consumed by ``train.trainer``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from skinbench.data.pipeline import Batches


@dataclass
class CellInputs:
    """The batches and facts of one cell's data."""

    train: Batches  #: shuffled; ``set_epoch(e)`` fixes epoch e's order
    val: Batches  #: model selection, padded evaluation batches in order
    val_labels: np.ndarray  #: the validation part's labels, in the batches' order
    report: Batches  #: the reported part, in order
    report_part: str
    report_ids: list[str]
    report_labels: np.ndarray
    n_train_images: int
    class_weights: np.ndarray | None  #: None: unweighted loss
    resize_rule: str  #: how the images were resized (data.cache)
    encoder: dict | None  #: the fitted metadata encoder (MetadataEncoder.to_dict), None without metadata
    val_ids: list[str] | None = None  #: the validation part's image ids (None: its predictions are not written)

    def micro_batches(self, k: int) -> "CellInputs":
        """The same inputs in batches ``k`` times smaller (``data.pipeline.Batches.micro_batches``)."""
        val = self.val.micro_batches(k)
        report = val if self.report is self.val else self.report.micro_batches(k)
        return dataclasses.replace(self, train=self.train.micro_batches(k), val=val, report=report)

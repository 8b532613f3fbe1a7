"""Batches of cached uint8 images, metadata features and one-hot labels for Keras 3 ``fit``.

``Batches`` is a ``keras.utils.PyDataset`` (backend-neutral: no TensorFlow import). Batch
``i`` of epoch ``e`` is a pure function of ``(seed, e, i)``: the order of epoch ``e`` is a
permutation drawn from ``numpy.random.default_rng([seed, e])``, so a resumed run sees the
same batches.

Epoch bookkeeping with ``fit``: call ``set_epoch(epoch)`` from a callback's
``on_epoch_begin`` (skinbench's trainer does) and pass ``shuffle=False`` to ``fit``.
``on_epoch_end`` also advances the epoch, but Keras calls it once when ``fit`` starts and,
with ``shuffle=True``, reorders the batches of an epoch with an unseeded generator; the
explicit ``set_epoch`` makes the order exact whatever the Keras version does.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from skinbench.classes import NUM_CLASSES


class Batches(keras.utils.PyDataset):
    """``({"image": uint8 (B, H, W, 3), "metadata": float32 (B, F)}, one-hot float32 (B, C))``.

    ``images`` is the whole cached array (usually a memmap); sample ``k`` is
    ``images[rows[k]]`` with label ``labels[k]`` and features ``metadata[k]``. Without
    ``metadata`` the inputs hold only ``"image"``. The last batch of an epoch may be smaller,
    so one epoch yields every sample exactly once. Extra keyword arguments (``workers``,
    ``use_multiprocessing``, ``max_queue_size``) go to ``PyDataset``.
    """

    def __init__(
        self,
        images: np.ndarray,
        rows: np.ndarray,
        labels: np.ndarray,
        metadata: np.ndarray | None = None,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        *,
        num_classes: int = NUM_CLASSES,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.images = images
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.metadata = None if metadata is None else np.asarray(metadata, dtype=np.float32)
        if len(self.labels) != len(self.rows) or (self.metadata is not None and len(self.metadata) != len(self.rows)):
            raise ValueError(
                f"Batches: {len(self.rows)} rows, {len(self.labels)} labels"
                + ("" if self.metadata is None else f", {len(self.metadata)} metadata rows")
                + "; give one of each per sample"
            )
        if len(self.rows) == 0:
            raise ValueError("Batches: no samples")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self._one_hot = np.eye(num_classes, dtype=np.float32)
        self._order_epoch: int | None = None
        self._order = np.arange(len(self.rows))

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Serve epoch ``epoch``'s order from now on."""
        self.epoch = int(epoch)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def order(self, epoch: int) -> np.ndarray:
        """Sample indices in the order epoch ``epoch`` visits them."""
        if not self.shuffle:
            return self._order
        if self._order_epoch != epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))
            self._order_epoch = epoch
        return self._order

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        samples = self.order(self.epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        samples = samples[np.argsort(self.rows[samples], kind="stable")]  # ascending rows read the memmap in order
        inputs = {"image": np.asarray(self.images[self.rows[samples]])}
        if self.metadata is not None:
            inputs["metadata"] = self.metadata[samples]
        return inputs, self._one_hot[self.labels[samples]]

"""Batches of cached uint8 images, metadata features and one-hot labels for Keras 3.

``Batches`` is a ``keras.utils.PyDataset`` (backend-neutral: no TensorFlow import) in one of
two modes, and every batch of either has ``batch_size`` rows, so a compiled backend (XLA under
JAX) builds one program per step function instead of one more for a short last batch:

* training (``shuffle=True``): one continuous stream of passes over the samples, pass ``p``
  in the order ``numpy.random.default_rng([seed, p]).permutation``, cut into full batches;
  an epoch is ``steps`` batches of that stream (default: ``len(samples) // batch_size``, one
  pass less the remainder, which the next epoch trains on first). No sample is trained on
  more than once more than any other over the epochs, and batch ``i`` of epoch ``e`` is a
  pure function of ``(seed, e, i)``, so a resumed run sees the same batches.
* evaluation (``shuffle=False``): the samples in order, once; the last batch is padded to
  ``batch_size`` by repeating its last sample, and ``n_samples`` says how many rows are real
  (``train.trainer.predict_probabilities`` drops the padding).

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
    ``metadata`` the inputs hold only ``"image"``. ``shuffle`` picks the mode (module
    docstring); ``steps`` sets a training epoch's batches (the author's ceil(len(train) / 10)-batch epochs).
    Extra keyword arguments (``workers``, ``use_multiprocessing``, ``max_queue_size``) go to
    ``PyDataset``.
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
        steps: int | None = None,
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
        if steps is not None and not shuffle:
            raise ValueError("Batches: steps is for training batches (shuffle=True)")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.steps = int(steps) if steps is not None else max(1, len(self.rows) // self.batch_size)
        self.epoch = 0
        self._one_hot = np.eye(num_classes, dtype=np.float32)
        self._orders: dict[int, np.ndarray] = {}

    @property
    def n_samples(self) -> int:
        return len(self.rows)

    def micro_batches(self, k: int) -> "Batches":
        """The same stream in batches ``k`` times smaller (gradient accumulation over ``k`` of them).

        Micro-batch ``j`` of an epoch holds the samples of part ``j % k`` of batch ``j // k``, so
        ``k`` consecutive micro-batches are one batch of this stream, and a training epoch has
        ``k`` times the steps.
        """
        if k < 1 or self.batch_size % k:
            raise ValueError(f"Batches: a batch of {self.batch_size} does not split into {k} micro-batches")
        return Batches(
            self.images, self.rows, self.labels, self.metadata, batch_size=self.batch_size // k, shuffle=self.shuffle,
            seed=self.seed, steps=self.steps * k if self.shuffle else None, num_classes=len(self._one_hot),
        )

    def __len__(self) -> int:
        return self.steps if self.shuffle else math.ceil(self.n_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Serve epoch ``epoch``'s batches from now on."""
        self.epoch = int(epoch)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def order(self, training_pass: int) -> np.ndarray:
        """Sample indices in the order pass ``training_pass`` of the stream visits them."""
        if training_pass not in self._orders:
            if len(self._orders) > 4:  # a batch spans at most two passes
                self._orders.clear()
            self._orders[training_pass] = np.random.default_rng([self.seed, training_pass]).permutation(self.n_samples)
        return self._orders[training_pass]

    def samples(self, epoch: int, index: int) -> np.ndarray:
        """The sample indices of batch ``index`` of epoch ``epoch``."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        if not self.shuffle:
            chosen = np.arange(index * self.batch_size, min((index + 1) * self.batch_size, self.n_samples))
            return np.pad(chosen, (0, self.batch_size - len(chosen)), mode="edge")
        start = (epoch * self.steps + index) * self.batch_size
        positions = np.arange(start, start + self.batch_size)
        passes, offsets = np.divmod(positions, self.n_samples)
        return np.concatenate([self.order(p)[offsets[passes == p]] for p in np.unique(passes)])

    def __getitem__(self, index: int):
        samples = self.samples(self.epoch, index)
        samples = samples[np.argsort(self.rows[samples], kind="stable")] if self.shuffle else samples
        inputs = {"image": np.asarray(self.images[self.rows[samples]])}  # ascending rows read the memmap in order
        if self.metadata is not None:
            inputs["metadata"] = self.metadata[samples]
        return inputs, self._one_hot[self.labels[samples]]

"""Data-parallel training on several GPUs: TensorFlow only (``tf.distribute.MirroredStrategy``).

Imported only when the Keras backend is TensorFlow. Other backends train on one device; the
trainer records 1 replica for them.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import tensorflow as tf


def mirrored_scope() -> tuple[ContextManager, int]:
    """A MirroredStrategy scope and its replica count with two or more GPUs, else no scope and 1.

    Models built and compiled inside the scope train data-parallel; the batch size stays the
    global batch (split across the replicas).
    """
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if len(gpus) < 2:
        return contextlib.nullcontext(), 1
    strategy = tf.distribute.MirroredStrategy(gpus)
    return strategy.scope(), strategy.num_replicas_in_sync

"""``--deterministic``: deterministic kernels, so a GPU run repeats bit for bit, at a cost in speed.

``keras.utils.set_random_seed`` fixes every random draw, which makes runs repeatable on a CPU;
on a GPU, kernels that reduce with atomics (cuDNN convolution algorithms, scatter-adds) still
sum in a different order each time. TensorFlow's op determinism picks deterministic kernels
(or raises ``UnimplementedError`` for an op that has none); under JAX, XLA's
``--xla_gpu_deterministic_ops`` does the same and must be set before JAX starts its backend;
PyTorch has ``use_deterministic_algorithms``.
"""

from __future__ import annotations

import os

import keras

from skinbench.errors import RunError

XLA_FLAG = "--xla_gpu_deterministic_ops=true"


def enable() -> None:
    """Turn deterministic kernels on for the active backend (before any computation runs)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "jax":
        from jax._src import xla_bridge

        flags = os.environ.get("XLA_FLAGS", "")
        if XLA_FLAG in flags.split():
            return
        if xla_bridge.backends_are_initialized():
            raise RunError(
                "--deterministic under JAX must be set before JAX starts; "
                f"start the process with XLA_FLAGS={XLA_FLAG} instead"
            )
        os.environ["XLA_FLAGS"] = f"{flags} {XLA_FLAG}".strip()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)

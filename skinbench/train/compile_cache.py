"""A persistent compilation cache under ``$SKINBENCH_CACHE/xla``, so nothing is compiled twice.

Under JAX every step function is an XLA program; JAX's persistent compilation cache stores each
compiled program on disk keyed by the program and the device, so a rerun, a resumed cell,
another seed of the same backbone or a second shard on the same kind of device loads it
instead of compiling again. Every program is stored (JAX's default keeps only those that took
over a second to compile). On a GPU, XLA's per-fusion autotuning results are kept beside it
(``--xla_gpu_per_fusion_autotune_cache_dir``, read when JAX starts its backend).

TensorFlow's XLA (``--jit``) keeps its compiled clusters in memory only: each process compiles
them again, and nothing here changes that.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from skinbench.paths import cache_root

AUTOTUNE_FLAG = "--xla_gpu_per_fusion_autotune_cache_dir"


def cache_dir() -> Path:
    """Where compiled programs are kept."""
    return cache_root() / "xla"


def enable() -> Path | None:
    """Turn the persistent cache on for the active backend; its folder, or None (no such cache)."""
    if keras.backend.backend() != "jax":
        return None
    import jax
    from jax._src import xla_bridge

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder / "programs"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    flags = os.environ.get("XLA_FLAGS", "")
    if AUTOTUNE_FLAG not in flags and not xla_bridge.backends_are_initialized():
        os.environ["XLA_FLAGS"] = f"{flags} {AUTOTUNE_FLAG}={folder / 'autotune'}".strip()
    return folder

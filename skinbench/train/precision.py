"""``--precision``: the Keras dtype policy a cell trains under, chosen for the device.

* ``float32``, ``mixed_float16``, ``mixed_bfloat16``: that policy.
* ``mixed``: bfloat16 where the hardware has it at full speed (CUDA compute capability 8.0 and
  newer: A100, H100, H200; and CPUs), else float16. bfloat16 has float32's range, so it needs
  no loss scaling; float16 does (Keras scales the loss under ``mixed_float16``).
* ``auto``: the policy measured fastest for the backbone on this GPU under the active backend,
  from the package's GPU measurements (``skinbench.gpu_bench``: each row names the GPU, the
  backend, the date and the file it came from); float32 where nothing was measured for this
  GPU, backend and backbone. A choice measured under JAX is not applied under TensorFlow.

timing.json records the policy that ran (``dtype_policy``).
"""

from __future__ import annotations

import keras

from skinbench.errors import RunError
from skinbench.gpu_bench import fastest_policy
from skinbench.train.env import accelerator_name, compute_capability

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
#: Compute capability from which GPUs run bfloat16 at full speed (NVIDIA Ampere).
BFLOAT16_FROM = (8, 0)


def precision_policy(precision: str, backbone: str | None = None) -> str:
    """The Keras dtype policy for ``--precision`` on this machine (``backbone`` for ``auto``)."""
    if precision in POLICIES:
        return precision
    if precision == "mixed":
        capability = compute_capability()
        return "mixed_bfloat16" if capability is None or capability >= BFLOAT16_FROM else "mixed_float16"
    if precision == "auto":
        return (backbone and fastest_policy(accelerator_name(), keras.backend.backend(), backbone)) or "float32"
    raise RunError(f"--precision must be one of {', '.join((*POLICIES, 'mixed', 'auto'))}, not {precision!r}")


def describe_precision(precision: str) -> str:
    """``--precision`` and what it runs as here, in words (the device line of run, ablate and bench)."""
    if precision in POLICIES:
        return precision
    if precision == "mixed":
        return f"mixed ({precision_policy('mixed')} here)"
    return (
        f"auto (per backbone, the policy measured fastest on {accelerator_name()} under {keras.backend.backend()}; "
        "float32 where none was measured)"
    )

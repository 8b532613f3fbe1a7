"""``--precision``: the Keras dtype policy a cell trains under, chosen for the device.

* ``float32``, ``mixed_float16``, ``mixed_bfloat16``: that policy.
* ``mixed``: bfloat16 where the hardware has it at full speed (CUDA compute capability 8.0 and
  newer: A100, H100, H200; and CPUs), else float16. bfloat16 has float32's range, so it needs
  no loss scaling; float16 does (Keras scales the loss under ``mixed_float16``).
* ``auto``: the policy measured fastest for the backbone on this GPU, from the package's
  ``precision_choices.csv`` (each row names the GPU, the measurement and its date;
  ``benchmarks/precision_choices.py`` makes it from a ``skinbench bench`` CSV); float32 where
  nothing was measured for this GPU and backbone.

timing.json records the policy that ran (``dtype_policy``).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

from skinbench.errors import RunError
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
        return measured_choice(accelerator_name(), backbone) or "float32"
    raise RunError(f"--precision must be one of {', '.join((*POLICIES, 'mixed', 'auto'))}, not {precision!r}")


def measured_choice(gpu: str, backbone: str | None) -> str | None:
    """The policy ``precision_choices.csv`` measured fastest for ``backbone`` on ``gpu``, if any."""
    return _choices().get((gpu, backbone))


@lru_cache(maxsize=1)
def _choices() -> dict[tuple[str, str], str]:
    with resources.files("skinbench").joinpath("precision_choices.csv").open() as handle:
        return {(row["gpu"], row["backbone"]): row["policy"] for row in csv.DictReader(handle)}

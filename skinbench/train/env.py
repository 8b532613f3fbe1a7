"""The machine a cell ran on (env.json): versions, backend, accelerator, CPU and RAM.

Nothing here imports a backend that is not the active one, so it works on a machine with JAX
and no TensorFlow.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import psutil

from skinbench.version import __version__
from skinbench.records import CpuRecord, Environment

_PACKAGES = ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def gpus() -> list[dict]:
    """Name and memory (GiB) of each GPU the active backend can use; empty on CPU."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_physical_devices("GPU")
        names = [tf.config.experimental.get_device_details(d).get("device_name", d.name) for d in devices]
    elif backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform == "gpu"]
        names = [d.device_kind for d in devices]
    elif backend == "torch":
        import torch

        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    else:
        names = []
    memory = _nvidia_memory_gib()
    return [{"name": name, "memory_gib": memory[i] if i < len(memory) else None} for i, name in enumerate(names)]


def compute_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability (major, minor), or None without a CUDA GPU."""
    backend = keras.backend.backend()
    found = None
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_physical_devices("GPU")
        found = tf.config.experimental.get_device_details(devices[0]).get("compute_capability") if devices else None
    elif backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform == "gpu"]
        value = getattr(devices[0], "compute_capability", None) if devices else None
        found = tuple(int(part) for part in str(value).split(".")[:2]) if value else None
    elif backend == "torch":
        import torch

        found = torch.cuda.get_device_capability(0) if torch.cuda.is_available() else None
    return tuple(found) if found else None


class PeakMemory:
    """The device memory a piece of work peaked at: start it before, ``result()`` after.

    TensorFlow and PyTorch reset their peak counter at the start, so the figure is the work's
    own. JAX keeps one peak per process and cannot reset it: when the work does not raise the
    process's peak, its own peak is at most that figure, and ``result`` says it is a bound.
    """

    def __init__(self) -> None:
        self.resettable = _reset_peak()
        self.before = _peak_bytes()

    def result(self) -> tuple[float | None, bool]:
        """(peak GiB or None without a GPU, whether it is only an upper bound of this work's peak)."""
        peak = _peak_bytes()
        if peak is None:
            return None, False
        bound = not self.resettable and self.before is not None and peak <= self.before
        return round(peak / 2**30, 3), bound


def _peak_bytes() -> int | None:
    """The first GPU's peak allocated bytes as the active backend counts them; None on a CPU."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return None
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    if backend == "jax":
        import jax

        devices = [d for d in jax.local_devices() if d.platform == "gpu"]
        stats = devices[0].memory_stats() if devices else None
        return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None
    if backend == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    return None


def _reset_peak() -> bool:
    """Reset the backend's peak counter where it can be; whether it was."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            tf.config.experimental.reset_memory_stats("GPU:0")
            return True
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
            return True
    return False


def _nvidia_memory_gib() -> list[float]:
    """Total memory of each NVIDIA GPU from nvidia-smi (empty when it is not there)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [round(float(line) / 1024, 1) for line in out.split() if line.strip()]


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def accelerator_name() -> str:
    """The first GPU's name, else the CPU's model."""
    found = gpus()
    return found[0]["name"] if found else cpu_model()


def describe() -> Environment:
    """env.json: this machine and its software."""
    memory = psutil.virtual_memory()
    return Environment(
        skinbench=__version__,
        python=sys.version.split()[0],
        backend=keras.backend.backend(),
        versions={name: _version(name) for name in _PACKAGES},
        gpus=gpus(),
        cpu=CpuRecord(
            model=cpu_model(),
            physical_cores=psutil.cpu_count(logical=False),
            logical_cores=psutil.cpu_count(logical=True),
            usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        ),
        ram_gib=round(memory.total / 2**30, 1),
        platform=platform.platform(),
        hostname=platform.node(),
    )

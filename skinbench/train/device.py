"""Which device a command trains on, said before the work starts, and the refusal to train a
large plan on a CPU by accident.

A GPU user gets the GPU or is told why not: ``no_gpu_reason`` says why the active backend sees
no GPU, and ``require_gpu`` turns that into one line naming the cause and the two ways on (the
GPU install, or ``--allow-cpu``). Without an NVIDIA driver no backend can see a GPU, so that
case is answered without importing any backend (a CPU machine is told at once); with a driver,
the backend is asked, and its own reason is given when it found none.

This module imports no backend at import time: the command line calls it before any heavy
import.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
from pathlib import Path

from skinbench.errors import RunError

#: Where a loaded NVIDIA kernel driver says its version (Linux).
NVIDIA_DRIVER_FILE = Path("/proc/driver/nvidia/version")
#: What to install for a GPU, per backend (docs/install.md says the same).
GPU_INSTALL = {
    "jax": "make install GPU=1, then KERAS_BACKEND=jax (JAX with CUDA 12, the backend recommended on a GPU)",
    "tensorflow": "make install GPU=tensorflow (TensorFlow with its CUDA libraries)",
    "torch": "a CUDA build of PyTorch (https://pytorch.org/get-started/locally/)",
}


def backend_name() -> str:
    """The Keras backend a command will use, read without importing Keras: ``KERAS_BACKEND``,
    else the backend in Keras's config file (``$KERAS_HOME/keras.json``), else Keras's default."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        return str(json.loads(config.read_text()).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def nvidia_driver() -> str | None:
    """The loaded NVIDIA driver's description, or None when this machine has none."""
    if NVIDIA_DRIVER_FILE.exists():
        try:
            return NVIDIA_DRIVER_FILE.read_text().splitlines()[0].strip() or "NVIDIA driver"
        except (OSError, IndexError):
            return "NVIDIA driver"
    return "nvidia-smi" if shutil.which("nvidia-smi") else None


def no_gpu_reason() -> str | None:
    """None when the active backend sees a GPU; else why not, in words.

    Without an NVIDIA driver no backend is imported; with one, the backend is asked, and its own
    reason is given when it found no GPU.
    """
    if nvidia_driver() is None:
        return f"no NVIDIA driver on this machine (no {NVIDIA_DRIVER_FILE}, no nvidia-smi)"
    from skinbench.train.env import gpus

    if gpus():
        return None
    backend = backend_name()
    return f"an NVIDIA driver is loaded, but {backend} found no GPU: {_backend_reason(backend)}"


def _backend_reason(backend: str) -> str:
    """The backend's own account of why it sees no GPU (it is imported by now)."""
    if backend == "jax":
        import jax

        if not any(name.startswith("jax-cuda") or name.startswith("jax_cuda") for name in _installed()):
            return "this JAX has no CUDA plugin (jax[cpu] is installed, not jax[cuda12])"
        try:
            jax.devices("cuda")
        except RuntimeError as exc:
            return str(exc).splitlines()[0]
        return "jax.devices('cuda') lists none"
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.test.is_built_with_cuda():
            return "this TensorFlow is built without CUDA (tensorflow, not tensorflow[and-cuda])"
        build = tf.sysconfig.get_build_info()
        return (
            f"TensorFlow (built for CUDA {build.get('cuda_version', '?')}, cuDNN {build.get('cudnn_version', '?')}) "
            "could not load its CUDA libraries (its warning 'Cannot dlopen some GPU libraries' above names which, "
            "unless TF_CPP_MIN_LOG_LEVEL is set to 2 or more)"
        )
    if backend == "torch":
        import torch

        return "this PyTorch is built without CUDA" if torch.version.cuda is None else "torch.cuda.is_available() is False"
    return f"the {backend} backend has no GPU support in skinbench"


def _installed() -> set[str]:
    return {dist.metadata["Name"].lower() for dist in importlib.metadata.distributions() if dist.metadata["Name"]}


def require_gpu(*, allow_cpu: bool, cpu_sized: bool) -> None:
    """Refuse to train on a CPU by accident: a RunError naming the cause and the ways on.

    ``cpu_sized``: the plan is no larger than the smoke and demo matrices, which are meant for a
    CPU. ``allow_cpu``: the user asked to train on the CPU anyway.
    """
    if allow_cpu or cpu_sized:
        return
    reason = no_gpu_reason()
    if reason is None:
        return
    backend = backend_name()
    ways = [GPU_INSTALL["jax"]] + ([GPU_INSTALL[backend]] if backend != "jax" and backend in GPU_INSTALL else [])
    raise RunError(
        f"no GPU to train on: {reason}. This plan is larger than the smoke and demo matrices and would take days on a "
        f"CPU ({backend} backend). Install the GPU build ({'; or '.join(ways)}), or set execution.allow_cpu to train on "
        "the CPU anyway",
        fields=("execution.allow_cpu",),
    )


def device_line(*, precision: str, jit: bool) -> str:
    """One line on what the work runs on: backend and version, devices, precision policy, XLA.

    Imports the backend (call it once options are checked).
    """
    import keras

    from skinbench.train.env import cpu_model, gpus
    from skinbench.train.precision import describe_precision

    backend = keras.backend.backend()
    version = _backend_version(backend)
    found = gpus()
    if found:
        devices = ", ".join(
            f"GPU {i}: {g['name']}" + (f" ({g['memory_gib']:g} GiB)" if g.get("memory_gib") else "")
            for i, g in enumerate(found)
        )
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        devices = f"CPU only: {cpu_model()} ({cores} cores)"
    xla = "on" if jit or backend == "jax" else "off (--jit turns it on)"
    return (
        f"device: Keras {keras.__version__} on {backend} {version}; {devices}; precision {describe_precision(precision)}; "
        f"XLA {xla}"
    )


def _backend_version(backend: str) -> str:
    package = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}.get(backend, backend)
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"

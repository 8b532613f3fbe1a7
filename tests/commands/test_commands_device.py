"""A GPU user gets the GPU: the refusal to train a large plan on a CPU, the device line, the plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skinbench.cli import app
from skinbench.errors import RunError
from skinbench.train import device

#: Imports the CLI, runs the arguments, and reports the exit code, output and heavy imports.
RUN = """
import json, sys
from typer.testing import CliRunner
from skinbench.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"exit_code": result.exit_code, "output": result.output,
                  "heavy": [m for m in ("tensorflow", "keras", "jax") if m in sys.modules]}))
"""


def _in_fresh_process(args: list[str], env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def no_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(device, "NVIDIA_DRIVER_FILE", tmp_path / "no-driver")
    monkeypatch.setattr(device.shutil, "which", lambda name: None)


@pytest.mark.skipif(device.nvidia_driver() is not None, reason="this machine has an NVIDIA driver")
@pytest.mark.parametrize("args", [["run", "--matrix", "paper"], ["ablate", "mobilenetv3"]])
def test_a_large_plan_without_a_gpu_stops_at_once_naming_the_cause_and_the_ways_on(args: list[str]) -> None:
    report = _in_fresh_process([*args, "--dataset", "synthetic"])
    assert report["exit_code"] == 2
    lines = report["output"].strip().splitlines()
    assert len(lines) == 1, report["output"]
    assert lines[0].startswith("error: no GPU to train on: no NVIDIA driver on this machine")
    assert "make install GPU=1" in lines[0] and "--allow-cpu" in lines[0]
    assert report["heavy"] == []  # answered before any backend is imported


def test_the_smoke_and_demo_sizes_and_allow_cpu_need_no_gpu(no_driver) -> None:
    device.require_gpu(allow_cpu=False, cpu_sized=True)
    device.require_gpu(allow_cpu=True, cpu_sized=False)
    with pytest.raises(RunError, match="no NVIDIA driver"):
        device.require_gpu(allow_cpu=False, cpu_sized=False)


def test_a_driver_without_a_gpu_gives_the_backends_own_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import skinbench.train.env as env

    driver = tmp_path / "version"
    driver.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.00\n")
    monkeypatch.setattr(device, "NVIDIA_DRIVER_FILE", driver)
    monkeypatch.setattr(env, "gpus", lambda: [])
    monkeypatch.setattr(device, "_backend_reason", lambda backend: f"{backend} says: CUDA_ERROR_NO_DEVICE")
    with pytest.raises(RunError) as caught:
        device.require_gpu(allow_cpu=False, cpu_sized=False)
    assert "an NVIDIA driver is loaded, but" in str(caught.value) and "CUDA_ERROR_NO_DEVICE" in str(caught.value)
    monkeypatch.setattr(env, "gpus", lambda: [{"name": "NVIDIA H200", "memory_gib": 139.8}])
    device.require_gpu(allow_cpu=False, cpu_sized=False)  # a GPU: nothing to refuse


def test_profiles_know_their_cpu_size() -> None:
    from dataclasses import replace

    from skinbench import config

    assert config.SMOKE.cpu_sized(config.SMOKE.settings) and config.DEMO.cpu_sized(config.DEMO.settings)
    assert config.SMOKE_ABLATION.cpu_sized(config.SMOKE_ABLATION.settings)
    assert not config.SMOKE.cpu_sized(replace(config.SMOKE.settings, epochs=50))  # larger than the profile
    assert not config.SMOKE.cpu_sized(replace(config.SMOKE.settings, image_size=224))
    assert not config.FULL_SCALE.cpu_sized(config.FULL_SCALE.settings)


def test_slurm_submission_is_not_refused_but_a_job_without_a_gpu_needs_allow_cpu(no_driver, monkeypatch) -> None:
    from skinbench.catalogue import SLURM
    from skinbench import api
    from skinbench.train.executors import Execution

    assert api._require_gpu(Execution(executor=SLURM), allow_cpu=False, cpu_sized=False, dry_run=False) is True
    with pytest.raises(RunError, match="execution.gpus_per_cell 0 gives the jobs no GPU"):
        api._require_gpu(Execution(executor=SLURM, gpus_per_cell=0), allow_cpu=False, cpu_sized=False, dry_run=False)


def test_the_device_line_names_backend_devices_precision_and_xla() -> None:
    import keras

    line = device.device_line(precision="float32", jit=False)
    assert line.startswith(f"device: Keras {keras.__version__} on {keras.backend.backend()} ")
    assert "precision float32" in line and "XLA " in line
    assert ("CPU only" in line) == (device.nvidia_driver() is None)

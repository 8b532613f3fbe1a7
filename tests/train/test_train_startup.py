"""No TensorFlow start-up lines on a machine without an NVIDIA driver; with a driver, TensorFlow speaks as it will."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from skinbench.train import device, startup

#: TensorFlow's C++ start-up lines on a CPU machine: absl's pre-initialisation warning, the oneDNN
#: and CPU-feature notices, the CUDA stub's and cuInit's.
NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
                   r"This TensorFlow binary is optimized|Could not find cuda drivers|cuInit")
#: Imports skinbench as every command does, then Keras on TensorFlow, and runs one op (where cuInit is tried).
IMPORT = ("import sys, skinbench, keras; keras.ops.ones((2, 2)); "
          "print(keras.backend.backend(), 'tensorflow' in sys.modules)")
WITHOUT_DRIVER = device.nvidia_driver() is None


def _stderr_of_import(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["tensorflow", "True"]  # TensorFlow was imported and ran
    return done.stderr


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    root = str(Path(__file__).resolve().parents[2])
    return env | {"KERAS_BACKEND": "tensorflow", "PYTHONPATH": os.pathsep.join([root, env.get("PYTHONPATH", "")])} | extra


@pytest.mark.skipif(not WITHOUT_DRIVER, reason="this machine has an NVIDIA driver")
def test_no_tensorflow_start_up_lines_without_a_driver() -> None:
    stderr = _stderr_of_import(_environment())
    assert not NOISE.search(stderr), stderr


@pytest.mark.skipif(not WITHOUT_DRIVER, reason="this machine has an NVIDIA driver")
def test_with_a_driver_tensorflows_own_lines_reach_the_user(tmp_path: Path) -> None:
    """A driver (here an nvidia-smi on PATH, which device.nvidia_driver accepts) leaves TensorFlow's
    lines alone: its failed cuInit, a GPU problem on such a machine, is printed."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nexit 1\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    stderr = _stderr_of_import(_environment(PATH=os.pathsep.join([str(tmp_path), os.environ["PATH"]])))
    assert "cuInit" in stderr, stderr


def test_with_a_driver_nothing_is_silenced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as before TensorFlow's first import
    finders = list(sys.meta_path)
    monkeypatch.setattr(startup, "nvidia_driver", lambda: "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.00")
    assert startup.quiet_tensorflow_start() is False
    assert sys.meta_path == finders and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    monkeypatch.setattr(startup, "nvidia_driver", lambda: None)
    assert startup.quiet_tensorflow_start() is True
    assert isinstance(sys.meta_path[0], startup._QuietTensorFlow) and os.environ["TF_CPP_MIN_LOG_LEVEL"] == startup.CPU_LOG_LEVEL


def test_captured_stderr_is_replayed_only_when_the_block_fails(capfd: pytest.CaptureFixture) -> None:
    with startup.captured_stderr():
        os.write(2, b"start-up line\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(ImportError), startup.captured_stderr():
        os.write(2, b"why the import failed\n")
        raise ImportError("broken install")
    assert capfd.readouterr().err == "why the import failed\n"

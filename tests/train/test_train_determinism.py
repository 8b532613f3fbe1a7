"""--deterministic turns on each backend's deterministic kernels and is recorded in config.json."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from skinbench.records import CellConfig

HERE = Path(__file__).resolve().parent


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=600)


def test_tensorflow_run_enables_op_determinism(tmp_path: Path, run_args: list[str]) -> None:
    out = tmp_path / "run"
    args = ["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--epochs", "1", "--deterministic", "--out", str(out), *run_args]
    done = _python(f"""
        import sys
        import tiny_backbone
        tiny_backbone.register()
        from typer.testing import CliRunner
        from skinbench.cli import app
        result = CliRunner().invoke(app, {args!r})
        from tensorflow.python.framework import config  # the public API has no getter
        print(result.exit_code, config.is_op_determinism_enabled())
    """, KERAS_BACKEND="tensorflow")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["0", "True"]
    assert CellConfig.read(out / "tiny-metadata-paper-s0").deterministic is True


def test_jax_sets_the_xla_flag_before_the_backend_starts() -> None:
    done = _python("""
        import os
        from skinbench.train.determinism import XLA_FLAG, enable
        enable()
        print(XLA_FLAG in os.environ["XLA_FLAGS"].split())
        import jax
        jax.numpy.zeros(1).block_until_ready()
        del os.environ["XLA_FLAGS"]
        try:
            enable()
        except Exception as exc:
            print(type(exc).__name__, exc)
    """, KERAS_BACKEND="jax", XLA_FLAGS="--xla_cpu_enable_fast_math=false")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "True"
    assert lines[1].startswith("RunError") and "before JAX starts" in lines[1]

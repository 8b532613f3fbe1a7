"""Under JAX a cell compiles each step function once: full training batches, padded evaluation batches;
and Keras dispatches its training batch ends asynchronously (no callback makes a step wait for its loss).

Before, a short last batch made XLA compile the train step twice, the test step twice and the
predict step four times per cell (full batch, remainder, and the latency batches).
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    import jax
    jax.config.update("jax_log_compiles", True)
    compiled = []

    class Record(logging.Handler):
        def emit(self, record):
            compiled.append(record.getMessage())

    logging.getLogger("jax").addHandler(Record())
    logging.getLogger("jax").setLevel(logging.DEBUG)
    import keras
    real_begin = keras.callbacks.CallbackList.on_train_begin

    def on_train_begin(self, logs=None):
        print("ASYNC_TRAIN", self._async_train)
        return real_begin(self, logs)

    keras.callbacks.CallbackList.on_train_begin = on_train_begin
    import tiny_backbone
    tiny_backbone.register()
    from typer.testing import CliRunner
    from skinbench.cli import app

    result = CliRunner().invoke(app, sys.argv[1:])
    print("exit", result.exit_code, result.output[-2000:])
    for message in compiled:
        print("LOG", message.splitlines()[0])
    """
)


def test_each_step_function_compiles_once(tmp_path: Path, tiny_data: Path, tiny: str) -> None:
    # 150 images: the paper split trains on 135 (4 batches of 32 and 7 over) and validates on 15.
    args = ["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--epochs", "2", "--data-dir", str(tiny_data),
            "--image-size", "32", "--batch-size", "32", "--weights", "none", "--quiet", "--out", str(tmp_path / "run")]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0 and "exit 0" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    finished = [line for line in done.stdout.splitlines() if line.startswith("LOG Finished XLA compilation of jit(")]
    counts = collections.Counter(re.search(r"jit\((\w+)\)", line).group(1) for line in finished)
    steps = {name: n for name, n in counts.items() if name.endswith("_step")}
    # one training program; one predict program (validation, the reported part, latency at batch 32)
    # plus the batch-1 latency program; Keras' test step is never used
    assert steps == {"train_step": 1, "predict_step": 2}, counts
    # fit's callbacks (validation, LR, early stopping, the epoch files, progress) leave every training
    # batch end to Keras' background thread: no step waits for its loss to reach the host
    assert [line for line in done.stdout.splitlines() if line.startswith("ASYNC_TRAIN")] == ["ASYNC_TRAIN True"]

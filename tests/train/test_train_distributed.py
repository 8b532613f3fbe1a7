"""Data-parallel training (TensorFlow MirroredStrategy), with two CPU devices standing in for two GPUs.

TensorFlow fixes its devices when it starts, so the run happens in a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from skinbench.records import FINISHED, CellStatus, Timing

HERE = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import sys

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    cpus = tf.config.list_logical_devices("CPU")
    logical_devices = tf.config.list_logical_devices
    tf.config.list_logical_devices = lambda kind=None: cpus if kind == "GPU" else logical_devices(kind)

    import tiny_backbone
    from skinbench.cli import app

    tiny_backbone.register()
    sys.argv = ["skinbench", *sys.argv[1:]]
    app()
    """
)


def test_two_replicas_train_and_predict_every_reported_image_once(tmp_path: Path, tiny_data: Path) -> None:
    out = tmp_path / "run"
    # Batch 8: Keras splits the first validation batch evenly over the replicas (15 images would not split).
    args = ["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--epochs", "1", "--data-dir", str(tiny_data),
            "--image-size", "32", "--batch-size", "8", "--weights", "none", "--quiet", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    cell = out / "tiny-metadata-paper-s0"
    assert CellStatus.read(cell).status == FINISHED
    assert Timing.read(cell).replicas == 2
    split = pd.read_csv(out / "split-paper-s0.csv")
    predictions = pd.read_csv(cell / "predictions.csv")
    assert sorted(predictions["image"]) == sorted(split.loc[split["part"] == "val", "image_id"])

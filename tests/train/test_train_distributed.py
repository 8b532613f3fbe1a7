"""Data-parallel training (TensorFlow MirroredStrategy), with two CPU devices standing in for two GPUs.

TensorFlow fixes its devices when it starts, so the run happens in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

SCRIPT = textwrap.dedent(
    """
    import sys

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    cpus = tf.config.list_logical_devices("CPU")
    logical_devices = tf.config.list_logical_devices
    tf.config.list_logical_devices = lambda kind=None: cpus if kind == "GPU" else logical_devices(kind)

    from skinbench.cli import app

    sys.argv = ["skinbench", *sys.argv[1:]]
    app()
    """
)


def test_two_replicas_train_and_predict_every_reported_image_once(tmp_path: Path, tiny_data: Path) -> None:
    out = tmp_path / "run"
    # Batch 8: Keras splits the first validation batch evenly over the replicas (15 images would not split).
    args = ["run", "--backbones", "mobilenetv3small", "--recipes", "metadata", "--epochs", "1", "--data-dir", str(tiny_data),
            "--image-size", "32", "--batch-size", "8", "--weights", "none", "--quiet", "--out", str(out)]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    cell = out / "mobilenetv3small-metadata-paper-s0"
    assert json.loads((cell / "status.json").read_text())["status"] == "finished"
    assert json.loads((cell / "timing.json").read_text())["replicas"] == 2
    split = pd.read_csv(out / "split-paper-s0.csv")
    predictions = pd.read_csv(cell / "predictions.csv")
    assert sorted(predictions["image"]) == sorted(split.loc[split["part"] == "val", "image_id"])

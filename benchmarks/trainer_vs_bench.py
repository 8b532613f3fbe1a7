"""The trainer's steady-state training speed against `skinbench bench`'s, same model and settings.

`skinbench bench` times `fit` on one in-memory batch served again and again: the model's
training step and nothing else. A real cell adds what training needs around it: batches read
from the memory-mapped cache, callbacks (progress, checkpoints), the epoch's bookkeeping. Both
are measured here in one run, under ``KERAS_BACKEND=jax`` on this machine, for the same
backbone, recipe, image size, batch size and precision; the cell's figure is timing.json's
``train_images_per_s`` (images per epoch over the median training pass of the epochs that did
not compile).

Usage: python benchmarks/trainer_vs_bench.py [--backbone mobilenetv3small] [--image-size 64]
       [--batch-size 16] [--epochs 4] [--count 600]
The last line printed is ``ratio: <trainer/bench>``. Goal: at least 0.95.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd


def skinbench(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "skinbench", *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"skinbench {' '.join(args)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--count", type=int, default=600, help="synthetic images (the training part is 90%)")
    options = parser.parse_args()

    from skinbench.records import Timing

    with tempfile.TemporaryDirectory(prefix="skinbench-trainer-vs-bench-") as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "KERAS_BACKEND": "jax", "SKINBENCH_CACHE": str(tmp_path / "cache")}
        data = tmp_path / "data"
        skinbench(["data", "synth", str(data), "--count", str(options.count), "--size", "128x96"], env)
        shared = ["--image-size", str(options.image_size), "--batch-size", str(options.batch_size), "--precision", "float32"]
        skinbench(["run", "--allow-cpu", "--backbones", options.backbone, "--recipes", "metadata", "--epochs", str(options.epochs),
                   "--data-dir", str(data), "--weights", "none", "--quiet", "--out", str(tmp_path / "run"), *shared], env)
        timing = Timing.read(tmp_path / "run" / f"{options.backbone}-metadata-paper-s0")
        bench = pd.read_csv(io.StringIO(skinbench(
            ["bench", "--backbones", options.backbone, "--recipe", "metadata", "--format", "csv", *shared], env
        )))
    bench_speed = float(bench["train_images_per_s"].iloc[0])
    print(f"{options.backbone}, metadata recipe, {options.image_size} px, batch {options.batch_size}, float32, "
          f"KERAS_BACKEND=jax, {os.cpu_count()} CPU cores")
    print(f"trainer: {timing.train_images_per_s:.1f} images/s ({timing.epoch_images} images an epoch, median "
          f"{timing.epoch_s:.2f} s over {timing.epochs_run - len(timing.traced_epochs)} epochs after the first)")
    print(f"bench:   {bench_speed:.1f} images/s")
    print(f"ratio: {timing.train_images_per_s / bench_speed:.3f}")


if __name__ == "__main__":
    main()

"""What an epoch costs besides its training pass: the checkpoint and the validation, before and after.

Both ways run here, side by side, on one model (default: ResNet50's metadata model at 224 px,
random weights, Adam's slots created, as a cell has them):

* checkpoint. Before: ``model.save_weights`` of the weights and the optimizer's variables on
  the training thread (what the trainer did). After: ``train.state.Checkpoint.save``, which
  copies the variables to host memory on the training thread and writes them from a
  background thread while the next epoch trains; its cost to training is the copy, plus any
  part of the write that outlasts the next training pass.
* validation over the paper split's 996 images (32 batches of 32). Before: one
  ``predict_on_batch`` per batch (Keras gathers and writes back the model's variables on every
  call). After: ``train.predictor.Predictor``, one compiled stateless program, the variables read
  once. Timed on ``--val-batches`` batches and scaled to 32.
* the training pass: ``--train-steps`` training steps after a compile, scaled to the 8,962
  training images of the paper split.

Every figure is the median of ``--repeats`` runs, the before and after runs taken in turn (a
change in the machine's load falls on both). The last line is ``overhead: <fraction>``:
checkpoint and validation after the change as a fraction of this device's training pass.

Usage: python benchmarks/epoch_overhead.py [--backbone resnet50] [--image-size 224] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from skinbench.benchmark import fit_steps, synthetic_batch
from skinbench.catalogue import HAM10000_METADATA_FEATURES
from skinbench.data.pipeline import Batches
from skinbench.gpu_bench import shipped
from skinbench.models.build import build_model
from skinbench.train.env import accelerator_name
from skinbench.train.plan import lookup, reference_gpu
from skinbench.train.predictor import Predictor
from skinbench.train.state import Checkpoint, TrainingState
from skinbench.train.timing import block_until_ready
from skinbench.train.trainer import compile_model

TRAIN_IMAGES, VAL_IMAGES, BATCH = 8962, 996, 32


def seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def median_seconds(run, repeats: int) -> float:
    return statistics.median(seconds(run) for _ in range(repeats))


def interleaved(before, after, repeats: int) -> tuple[float, float]:
    """Medians of ``before`` and ``after`` timed in turn, so a change in the machine's load falls on both."""
    pairs = [(seconds(before), seconds(after)) for _ in range(repeats)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--val-batches", type=int, default=3, help="validation batches timed (scaled to 32)")
    parser.add_argument("--train-steps", type=int, default=2, help="training steps timed (scaled to an epoch)")
    options = parser.parse_args()

    model = build_model(options.backbone, image_size=options.image_size, metadata_features=HAM10000_METADATA_FEATURES,
                        weights="none")
    compile_model(model, class_weights=None, jit=False)
    inputs, targets = synthetic_batch(BATCH, options.image_size, HAM10000_METADATA_FEATURES)
    fit_steps(model, inputs, targets, 1)  # compile
    state_mb = sum(np.prod(v.shape) * 4 for v in (*model.weights, *model.optimizer.variables)) / 2**20

    train_step = median_seconds(lambda: fit_steps(model, inputs, targets, options.train_steps), options.repeats) / options.train_steps
    train_pass = train_step * TRAIN_IMAGES / BATCH

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Checkpoint(Path(tmp) / "checkpoint")
        pairs = []
        for epoch in range(1, options.repeats + 1):
            pairs.append((seconds(lambda: model.save_weights(Path(tmp) / "model.weights.h5")),
                          seconds(lambda: checkpoint.save(model, TrainingState(epochs_done=epoch), improved=True))))
            checkpoint.wait()  # untimed: the write overlaps the next epoch in a cell
        before_checkpoint, after_copy = (statistics.median(p[i] for p in pairs) for i in (0, 1))
        after_write = statistics.median(checkpoint.write_seconds)
    after_checkpoint = after_copy + max(0.0, after_write - train_pass)

    rng = np.random.default_rng(0)
    n_val = options.val_batches * BATCH
    images = rng.integers(0, 256, (n_val, options.image_size, options.image_size, 3), dtype=np.uint8)
    metadata = rng.normal(size=(n_val, HAM10000_METADATA_FEATURES)).astype("float32")
    batches = Batches(images, np.arange(n_val), rng.integers(0, 7, n_val), metadata, batch_size=BATCH, shuffle=False)
    predictor = Predictor(model, jit=keras.backend.backend() == "jax")
    predictor.probabilities(batches)  # compile
    model.predict_on_batch(batches[0][0])  # compile
    scale = math.ceil(VAL_IMAGES / BATCH) / options.val_batches
    before_val, after_val = (scale * t for t in interleaved(
        lambda: [model.predict_on_batch(batches[i][0]) for i in range(len(batches))],
        lambda: block_until_ready(predictor.probabilities(batches)),
        options.repeats,
    ))

    before, after = (before_checkpoint + before_val) / train_pass, (after_checkpoint + after_val) / train_pass
    print(f"epoch_overhead: {options.backbone} metadata model at {options.image_size} px, {keras.backend.backend()} on "
          f"{accelerator_name()}, medians of {options.repeats}")
    print(f"checkpoint ({state_mb:,.0f} MB of weights and Adam state): before {before_checkpoint:.3f} s (save_weights on "
          f"the training thread); after {after_copy:.3f} s on the training thread, {after_write:.3f} s written in the "
          "background during the next epoch")
    print(f"validation ({VAL_IMAGES} images, {math.ceil(VAL_IMAGES / BATCH)} batches; timed on {options.val_batches}): "
          f"before {before_val:.3f} s (predict_on_batch per batch); after {after_val:.3f} s ({predictor.description})")
    print(f"training pass ({TRAIN_IMAGES:,} images): {train_pass:.2f} s ({train_step:.3f} s per step of {BATCH}, "
          f"{options.train_steps} steps timed)")
    print(f"checkpoint + validation as a fraction of the training pass: before {before:.4f}, after {after:.4f}")
    device, backend = reference_gpu(shipped())
    figures = lookup(shipped(), device=device, backend=backend, backbone=options.backbone, recipe="metadata",
                     image_size=options.image_size, policy="float32")
    if figures is not None:
        gpu_pass = TRAIN_IMAGES / figures.train_images_per_s
        print(f"the checkpoint alone against the {device} ({backend}) training pass of the shipped bench, "
              f"{gpu_pass:.2f} s: before {before_checkpoint / gpu_pass:.3f}, after "
              f"{(after_copy + max(0.0, after_write - gpu_pass)) / gpu_pass:.3f} (checkpoint measured here)")
    print(f"overhead: {after:.4f}")


if __name__ == "__main__":
    main()

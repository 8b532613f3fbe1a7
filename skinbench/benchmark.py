"""Throughput and latency measurements behind ``skinbench bench``.

Every figure comes from a fixed number of timed steps after a warm-up, and every result row
carries the settings it was measured under (backbone, image size, batch size, precision,
backend, device), so rows from different machines can sit in one table.

Training throughput is measured with Keras ``fit`` on an in-memory batch of random uint8
images (the model's real input), so it times the same compiled train step the trainer runs,
without any input pipeline. The first ``fit`` call, which traces and compiles, is timed apart.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from skinbench.catalogue import HAM10000_IMAGES, HAM10000_METADATA_FEATURES, RECIPES
from skinbench.classes import NUM_CLASSES
from skinbench.io import exclusive
from skinbench.train.timing import inference_latency_ms, timed



@dataclass
class BenchRow:
    """One backbone measured under one setting."""

    backbone: str
    recipe: str
    image_size: int
    batch_size: int
    precision: str
    backend: str
    device: str
    params: int
    compile_s: float
    train_images_per_s: float
    train_step_ms: float
    infer_images_per_s: float
    latency_ms_b1: float
    latency_ms_b32: float
    epoch_s_ham10000: float

    def as_dict(self) -> dict:
        return asdict(self)




class _RepeatBatch(keras.utils.PyDataset):
    """Serves the same in-memory batch ``steps`` times."""

    def __init__(self, inputs: dict, targets: np.ndarray, steps: int) -> None:
        super().__init__()
        self.inputs, self.targets, self.steps = inputs, targets, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[dict, np.ndarray]:
        return self.inputs, self.targets


def synthetic_batch(batch_size: int, image_size: int, metadata_features: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Random uint8 images, metadata and one-hot labels shaped like a real batch."""
    rng = np.random.default_rng(seed)
    inputs = {"image": rng.integers(0, 256, (batch_size, image_size, image_size, 3), dtype=np.uint8)}
    if metadata_features:
        inputs["metadata"] = rng.normal(size=(batch_size, metadata_features)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, batch_size)
    return inputs, np.eye(NUM_CLASSES, dtype="float32")[labels]


def compile_seconds(model, inputs: dict, targets: np.ndarray, warmup: int) -> float:
    """Seconds of the first ``fit`` (tracing and compiling the train step, then ``warmup`` steps)."""
    start = time.perf_counter()
    model.fit(_RepeatBatch(inputs, targets, warmup), epochs=1, verbose=0)
    return time.perf_counter() - start


def train_step_seconds(model, inputs: dict, targets: np.ndarray, steps: int) -> float:
    """Seconds per train step over ``steps`` steps of an already compiled model.

    ``fit`` returns only when every step has finished, so the wall time of a ``fit`` over
    ``steps`` batches is the honest figure even on asynchronous backends.
    """
    (fit_s,) = timed(lambda: model.fit(_RepeatBatch(inputs, targets, steps), epochs=1, verbose=0), 1)
    return fit_s / steps


def bench_backbone(
    backbone: str,
    *,
    image_size: int | None,
    batch_size: int,
    precision: str,
    recipe: str,
    steps: int,
    warmup: int,
    jit: bool = False,
    lock: Path | None = None,
) -> BenchRow:
    """Build one backbone's model and measure training and inference on random tensors."""
    from skinbench.models.accounting import summarize
    from skinbench.models.backbones import get_backbone
    from skinbench.train.env import accelerator_name
    from skinbench.train.trainer import compile_model, precision_policy

    spec = get_backbone(backbone)
    size = image_size or spec.native_size
    metadata_features = HAM10000_METADATA_FEATURES if RECIPES[recipe].metadata else 0
    keras.mixed_precision.set_global_policy(precision_policy(precision))
    try:
        from skinbench.models.build import build_model

        model = build_model(spec.name, image_size=size, metadata_features=metadata_features, weights="none")
        compile_model(model, class_weights=None, jit=jit)
        inputs, targets = synthetic_batch(batch_size, size, metadata_features)
        compile_s = compile_seconds(model, inputs, targets, warmup)
        for batch in (1, 32):  # compiles the predict step for both batch shapes outside the lock
            inference_latency_ms(model, inputs, batch, repeats=1)
        with exclusive(lock):
            step_s = train_step_seconds(model, inputs, targets, steps)
            latency_b32 = inference_latency_ms(model, inputs, 32)
            latency_b1 = inference_latency_ms(model, inputs, 1)
        params = summarize(model)["params"]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    images_per_s = batch_size / step_s
    return BenchRow(
        backbone=spec.name,
        recipe=recipe,
        image_size=size,
        batch_size=batch_size,
        precision=precision,
        backend=keras.backend.backend(),
        device=accelerator_name(),
        params=int(params),
        compile_s=round(compile_s, 3),
        train_images_per_s=round(images_per_s, 2),
        train_step_ms=round(1000 * step_s, 3),
        infer_images_per_s=round(1000.0 / latency_b32, 2),
        latency_ms_b1=round(latency_b1, 3),
        latency_ms_b32=round(latency_b32, 3),
        epoch_s_ham10000=round(HAM10000_IMAGES / images_per_s, 2),
    )


def resolve_backbones(text: str) -> list[str]:
    """'all' or a comma-separated list of registry names, validated."""
    from skinbench.models.backbones import REGISTRY, get_backbone

    if text.strip().lower() == "all":
        return list(REGISTRY)
    return [get_backbone(name.strip()).name for name in text.split(",") if name.strip()]


@dataclass
class PipelineRow:
    """The input pipeline timed alone: cached uint8 images to a batch ready for the model."""

    images: int
    image_size: int
    batch_size: int
    cache_build_s: float
    epoch_s: float
    images_per_s: float
    backend: str

    def as_dict(self) -> dict:
        return asdict(self)


def pipeline_epoch_seconds(batches) -> float:
    """Seconds to draw every batch of one epoch from a ``data.pipeline.Batches``."""
    start = time.perf_counter()
    for index in range(len(batches)):
        batches[index]
    return time.perf_counter() - start


def bench_pipeline(*, image_size: int, batch_size: int, count: int, seed: int = 0) -> PipelineRow:
    """Time one shuffled epoch of the cached pipeline over ``count`` synthetic images."""
    from skinbench.data.cache import build_cache
    from skinbench.data.ham10000 import load_dataset
    from skinbench.data.metadata import MetadataEncoder
    from skinbench.data.pipeline import Batches
    from skinbench.data.synthetic import ensure_synthetic

    dataset = load_dataset(ensure_synthetic(count=count, size=(300, 225), seed=seed))
    start = time.perf_counter()
    cache = build_cache(dataset, image_size, rule="crop", progress=False)
    cache_build_s = time.perf_counter() - start
    frame = dataset.frame
    rows = cache.rows(frame["image_id"])
    metadata = MetadataEncoder().fit(frame).transform(frame)
    batches = Batches(cache.images, rows, frame["label"].to_numpy(), metadata, batch_size=batch_size, shuffle=True, seed=seed)
    pipeline_epoch_seconds(batches)  # first pass warms the page cache
    batches.set_epoch(1)
    epoch_s = pipeline_epoch_seconds(batches)
    return PipelineRow(
        images=len(rows),
        image_size=image_size,
        batch_size=batch_size,
        cache_build_s=round(cache_build_s, 3),
        epoch_s=round(epoch_s, 6),
        images_per_s=round(len(rows) / epoch_s, 1),
        backend=keras.backend.backend(),
    )

"""Throughput and latency measurements behind ``skinbench bench``.

Every result row carries the settings it was measured under (backbone, image size, batch
size, precision and the Keras policy it ran as, backend, device), so rows from different
machines can sit in one table.

How each figure is timed (``train.timing.repeated_figure``): after the compilation, a
calibration run picks how many calls make one repeat last at least ``min_seconds`` (3 s by
default; never fewer calls than ``--steps``), then the figure is timed ``repeats`` times (3 by
default). A row gives each figure's median and its spread (``_min`` and ``_max`` over the
repeats), the calls per repeat and the shortest repeat's seconds. Every timed block ends by
waiting for its results (``train.timing.block_until_ready``, or NumPy outputs), so an
asynchronous backend cannot stop the clock before the device has finished.

* Training: Keras ``fit`` over an in-memory batch of random uint8 images (the model's real
  input), so it times the compiled train step the trainer runs, without any input pipeline;
  the timed block ends with a wait on the optimizer's step counter. The first ``fit``
  (tracing, compiling and ``warmup`` steps) is timed apart as ``compile_s``.
* Inference through ``predict_on_batch`` at batch 1 and batch 32: what a user calls. Its
  first calls (the compiles) are timed apart as ``predict_compile_s``.
* Inference through a compiled stateless function at batch 1
  (``train.timing.stateless_predictor``: ``jax.jit`` of ``model.stateless_call`` on JAX,
  ``tf.function`` on TensorFlow), inputs already on the device: what the device needs.
  ``predict_on_batch`` adds Keras's per-call handling of the model's variables, which is most
  of a batch-1 call on a GPU. ``stateless_fn`` says which function ran.

Sharing one device (``lock``): a process holds the lock for the whole measurement of a
backbone, from building the model to its last figure; outside it a process only imports,
finds the device and makes its random NumPy batch. On JAX nothing after the imports is
free of the device: building a model creates its variables there, and XLA's GPU compiler
autotunes by running candidate kernels on the device while it compiles; compiles running
beside another process's timed steps would slow those steps, and autotuning beside another
process's kernels would time candidates on a busy device and may pick slower ones. So with
a lock every figure, ``compile_s`` included, is a figure of one process alone on the device;
the price is that several processes no longer compile at once (they only overlap their
imports), so benching every backbone takes the sum of their compile times.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import numpy as np

from skinbench.catalogue import HAM10000_IMAGES, HAM10000_METADATA_FEATURES, RECIPES
from skinbench.classes import NUM_CLASSES
from skinbench.io import exclusive
from skinbench.train.timing import (
    FIGURE_REPEATS,
    MIN_FIGURE_SECONDS,
    Figure,
    block_until_ready,
    predict_on_batch_calls,
    repeated_figure,
    sized_batch,
    stateless_calls,
    stateless_predictor,
)


@dataclass
class BenchRow:
    """One backbone measured under one setting.

    The columns up to ``epoch_s_ham10000`` keep their earlier meaning (each figure now the
    median of the repeats); the columns after it are the repeats' spread and how they ran.
    """

    backbone: str
    recipe: str
    image_size: int
    batch_size: int
    precision: str
    backend: str
    device: str
    params: int
    compile_s: float  #: the first fit: tracing, compiling and the warm-up steps
    train_images_per_s: float
    train_step_ms: float
    infer_images_per_s: float  #: from latency_ms_b32 (predict_on_batch)
    latency_ms_b1: float  #: predict_on_batch, ms per image
    latency_ms_b32: float  #: predict_on_batch, ms per image
    epoch_s_ham10000: float  #: 10,015 images at train_images_per_s
    policy: str  #: the Keras dtype policy the precision ran as
    repeats: int
    train_steps: int  #: steps per timed repeat (after calibration)
    train_images_per_s_min: float
    train_images_per_s_max: float
    predict_compile_s: float  #: the first predict_on_batch calls at batch 1 and 32
    latency_b1_calls: int
    latency_ms_b1_min: float
    latency_ms_b1_max: float
    latency_b32_calls: int
    latency_ms_b32_min: float
    latency_ms_b32_max: float
    stateless_fn: str  #: the compiled inference function that ran (train.timing.stateless_predictor)
    stateless_compile_s: float  #: its first call
    latency_stateless_b1_calls: int
    latency_ms_b1_stateless: float
    latency_ms_b1_stateless_min: float
    latency_ms_b1_stateless_max: float
    shortest_repeat_s: float  #: the shortest timed repeat of any figure of the row
    peak_memory_gib: float | None  #: the GPU's peak allocated memory while this row was measured (None on a CPU)
    peak_memory_upper_bound: bool  #: JAX keeps one peak per process: the row's own is at most peak_memory_gib

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


def fit_steps(model, inputs: dict, targets: np.ndarray, steps: int) -> None:
    """``steps`` train steps through ``fit``, then a wait until the last one has finished.

    The optimizer's step counter is written by every step, so reading it waits for the last.
    """
    model.fit(_RepeatBatch(inputs, targets, steps), epochs=1, verbose=0)
    block_until_ready(model.optimizer.iterations.value)


def compile_seconds(model, inputs: dict, targets: np.ndarray, warmup: int) -> float:
    """Seconds of the first ``fit`` (tracing and compiling the train step, then ``warmup`` steps)."""
    start = time.perf_counter()
    fit_steps(model, inputs, targets, warmup)
    return time.perf_counter() - start


def first_call_seconds(fn, *args) -> float:
    """Seconds of one call (a first call: tracing and compiling included)."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


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
    min_seconds: float = MIN_FIGURE_SECONDS,
    repeats: int = FIGURE_REPEATS,
) -> BenchRow:
    """Build one backbone's model and measure training and inference on random tensors.

    ``steps`` is the least number of calls per timed repeat (training steps, predictions);
    ``lock`` is held from the build to the last figure (see the module's docstring).
    """
    from skinbench.models.accounting import summarize
    from skinbench.models.backbones import get_backbone
    from skinbench.train.env import PeakMemory, accelerator_name
    from skinbench.train.precision import precision_policy
    from skinbench.train.trainer import compile_model, jit_compile

    spec = get_backbone(backbone)
    size = image_size or spec.native_size
    metadata_features = HAM10000_METADATA_FEATURES if RECIPES[recipe].metadata else 0
    inputs, targets = synthetic_batch(batch_size, size, metadata_features)  # NumPy only: before the lock
    policy = precision_policy(precision, spec.name)
    timing = {"min_calls": steps, "min_seconds": min_seconds, "repeats": repeats}
    with exclusive(lock):
        keras.mixed_precision.set_global_policy(policy)
        memory = PeakMemory()
        try:
            from skinbench.models.build import build_model

            model = build_model(spec.name, image_size=size, metadata_features=metadata_features, weights="none")
            compile_model(model, class_weights=None, jit=jit)
            compile_s = compile_seconds(model, inputs, targets, warmup)
            train = repeated_figure(lambda n: fit_steps(model, inputs, targets, n), **timing)

            b1, b32 = sized_batch(inputs, 1), sized_batch(inputs, 32)
            predict_compile_s = first_call_seconds(model.predict_on_batch, b32) + first_call_seconds(model.predict_on_batch, b1)
            latency_b32 = repeated_figure(lambda n: predict_on_batch_calls(model, b32, n), **timing)
            latency_b1 = repeated_figure(lambda n: predict_on_batch_calls(model, b1, n), **timing)

            predict, stateless_fn = stateless_predictor(model, jit=jit_compile(jit))
            on_device = {name: keras.ops.convert_to_tensor(value) for name, value in b1.items()}
            stateless_compile_s = first_call_seconds(stateless_calls, predict, on_device, 1)
            stateless_b1 = repeated_figure(lambda n: stateless_calls(predict, on_device, n), **timing)
            params = summarize(model)["params"]
            peak = memory.result()
        finally:
            keras.mixed_precision.set_global_policy("float32")
    return _row(
        spec.name, recipe, size, batch_size, precision, policy, int(params),
        compile_s=compile_s, predict_compile_s=predict_compile_s, stateless_compile_s=stateless_compile_s,
        train=train, latency_b1=latency_b1, latency_b32=latency_b32, stateless_b1=stateless_b1,
        stateless_fn=stateless_fn, device=accelerator_name(), peak_memory=peak,
    )


def _row(
    backbone: str, recipe: str, size: int, batch_size: int, precision: str, policy: str, params: int, *,
    compile_s: float, predict_compile_s: float, stateless_compile_s: float, train: Figure, latency_b1: Figure,
    latency_b32: Figure, stateless_b1: Figure, stateless_fn: str, device: str, peak_memory: tuple[float | None, bool],
) -> BenchRow:
    """The row of one measurement: rates and milliseconds from each figure's seconds per call."""
    figures = (train, latency_b1, latency_b32, stateless_b1)

    def ms(seconds: float, images: int) -> float:
        return round(1000.0 * seconds / images, 4)

    images_per_s = batch_size / train.median_s
    return BenchRow(
        backbone=backbone,
        recipe=recipe,
        image_size=size,
        batch_size=batch_size,
        precision=precision,
        backend=keras.backend.backend(),
        device=device,
        params=params,
        compile_s=round(compile_s, 3),
        train_images_per_s=round(images_per_s, 2),
        train_step_ms=round(1000 * train.median_s, 3),
        infer_images_per_s=round(32 / latency_b32.median_s, 2),
        latency_ms_b1=ms(latency_b1.median_s, 1),
        latency_ms_b32=ms(latency_b32.median_s, 32),
        epoch_s_ham10000=round(HAM10000_IMAGES / images_per_s, 2),
        policy=policy,
        repeats=len(train.per_call_s),
        train_steps=train.calls,
        train_images_per_s_min=round(batch_size / train.max_s, 2),
        train_images_per_s_max=round(batch_size / train.min_s, 2),
        predict_compile_s=round(predict_compile_s, 3),
        latency_b1_calls=latency_b1.calls,
        latency_ms_b1_min=ms(latency_b1.min_s, 1),
        latency_ms_b1_max=ms(latency_b1.max_s, 1),
        latency_b32_calls=latency_b32.calls,
        latency_ms_b32_min=ms(latency_b32.min_s, 32),
        latency_ms_b32_max=ms(latency_b32.max_s, 32),
        stateless_fn=stateless_fn,
        stateless_compile_s=round(stateless_compile_s, 3),
        latency_stateless_b1_calls=stateless_b1.calls,
        latency_ms_b1_stateless=ms(stateless_b1.median_s, 1),
        latency_ms_b1_stateless_min=ms(stateless_b1.min_s, 1),
        latency_ms_b1_stateless_max=ms(stateless_b1.max_s, 1),
        shortest_repeat_s=round(min(f.shortest_repeat_s for f in figures), 3),
        peak_memory_gib=peak_memory[0],
        peak_memory_upper_bound=peak_memory[1],
    )


def bench_backbones(
    names: Sequence[str],
    precisions: Sequence[str],
    measured: Callable[[BenchRow], None],
    *,
    starting: Callable[[str, str], None] = lambda name, precision: None,
    **options: Any,
) -> list[BenchRow]:
    """``bench_backbone`` of every backbone at every precision, in turn; ``measured`` gets each row
    as soon as it is measured (so a caller can keep it before the next starts)."""
    rows = []
    for name in names:
        for precision in precisions:
            starting(name, precision)
            row = bench_backbone(name, precision=precision, **options)
            measured(row)
            rows.append(row)
    return rows


def resolve_backbones(text: str) -> list[str]:
    """'all' or a comma-separated list of registry names, validated."""
    from skinbench.catalogue import BACKBONES

    if text.strip().lower() == "all":
        return list(BACKBONES)
    return [BACKBONES.get(name.strip()).name for name in text.split(",") if name.strip()]


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

"""skinbench bench: rows carry their settings and measured figures; CSV/JSON on disk; the lock
covers everything on the device; figures are repeated, long enough and synchronised."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from skinbench import benchmark
from skinbench.benchmark import BenchRow
from skinbench.cli import app
from skinbench.commands.bench import precisions
from skinbench.train import timing
from skinbench.train.timing import Figure, repeated_figure
from skinbench.data.synthetic import synthetic_metadata
from skinbench.models.build import build_model
from skinbench.train.env import accelerator_name


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("SKINBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


#: Figures in a row: the column of the median, and the column of its calls per repeat.
FIGURES = {
    "train_images_per_s": "train_steps",
    "latency_ms_b1": "latency_b1_calls",
    "latency_ms_b32": "latency_b32_calls",
    "latency_ms_b1_stateless": "latency_stateless_b1_calls",
}


def test_bench_writes_one_row_per_precision_with_its_settings(tmp_path: Path) -> None:
    out = tmp_path / "bench.csv"
    result = CliRunner().invoke(
        app,
        ["bench", "--backbones", "mobilenetv3small", "--image-size", "32", "--batch-size", "4", "--steps", "2",
         "--warmup", "1", "--min-seconds", "0.05", "--repeats", "3", "--recipe", "augmented", "--out", str(out),
         "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert len(frame) == 1
    assert list(frame.columns) == [field.name for field in dataclasses.fields(BenchRow)]
    row = frame.iloc[0]
    assert (row.backbone, row.recipe, row.image_size, row.batch_size, row.precision) == ("mobilenetv3small", "augmented", 32, 4, "float32")
    assert (row.backend, row.device) == (keras.backend.backend(), accelerator_name())
    # The augmented recipe's model: no metadata input.
    assert row.params == build_model("mobilenetv3small", image_size=32, weights=None).count_params()
    assert row.train_step_ms == pytest.approx(1000 * row.batch_size / row.train_images_per_s, rel=0.01)
    assert row.epoch_s_ham10000 == pytest.approx(10015 / row.train_images_per_s, rel=0.01)
    assert row.infer_images_per_s == pytest.approx(1000 / row.latency_ms_b32, rel=0.02)
    assert row.compile_s > row.train_step_ms / 1000  # the first fit traces the step and runs the warm-up step
    assert row.latency_ms_b1 > row.latency_ms_b32 > 0  # a batch of 32 shares one call's overhead
    # Three repeats per figure, each at least --min-seconds long and at least --steps calls;
    # the median lies within the spread.
    assert row.repeats == 3
    assert row.shortest_repeat_s >= 0.05
    for median, calls in FIGURES.items():
        assert row[f"{median}_min"] <= row[median] <= row[f"{median}_max"], median
        assert row[calls] >= 2, calls
    # The compiled stateless path ran and gave a figure of its own.
    assert row.stateless_fn == {"jax": "jax.jit(stateless_call)", "tensorflow": "tf.function(jit_compile=False)"}.get(
        keras.backend.backend(), row.stateless_fn
    )
    assert isinstance(row.latency_ms_b1_stateless, float) and 0 < row.latency_ms_b1_stateless < math.inf
    assert row.stateless_compile_s > 0 and row.predict_compile_s > 0
    assert row.policy == "float32"
    assert pd.isna(row.peak_memory_gib) or row.peak_memory_gib > 0  # none on a CPU
    written = pd.DataFrame(json.loads(out.with_suffix(".json").read_text())).astype({"peak_memory_gib": float})
    pd.testing.assert_frame_equal(written, frame, check_dtype=False)


def test_each_repeat_lasts_the_minimum_after_a_calibration() -> None:
    """A fake clock: each run costs a fixed 0.5 s (fit's setup) plus 1 ms per call, so the
    calibration overestimates the time per call and the first planned repeats fall short."""
    now, runs = [0.0], []

    def run(calls: int) -> None:
        runs.append(calls)
        now[0] += 0.5 + 0.001 * calls

    figure = repeated_figure(run, min_calls=2, min_seconds=1.0, repeats=3, clock=lambda: now[0])
    assert runs[0] == 2  # the calibration: --steps calls
    assert runs[-3:] == [figure.calls] * 3  # the three kept repeats
    assert figure.shortest_repeat_s >= 1.0 and len(figure.per_call_s) == 3
    assert figure.per_call_s == pytest.approx([(0.5 + 0.001 * figure.calls) / figure.calls] * 3)
    assert all(later > earlier for earlier, later in zip(runs[1:-2], runs[2:-2]))  # short rounds grow


def test_steps_are_the_least_calls_of_a_repeat() -> None:
    now = [0.0]

    def run(calls: int) -> None:
        now[0] += 2.0 * calls  # already past the minimum at one call

    figure = repeated_figure(run, min_calls=5, min_seconds=1.0, repeats=3, clock=lambda: now[0])
    assert figure == Figure((2.0, 2.0, 2.0), 5, 10.0)


def test_a_row_gives_each_figures_median_and_spread() -> None:
    train = Figure((0.2, 0.1, 0.4), calls=30, shortest_repeat_s=3.0)  # seconds per step of batch 4
    b1 = Figure((0.004, 0.002, 0.003), calls=1000, shortest_repeat_s=3.2)
    b32 = Figure((0.064, 0.032, 0.096), calls=50, shortest_repeat_s=3.1)
    stateless = Figure((0.001, 0.003, 0.002), calls=2000, shortest_repeat_s=3.3)
    row = benchmark._row(
        "mobilenetv3small", "metadata", 32, 4, "float32", "float32", 10, compile_s=1.0, predict_compile_s=0.5,
        stateless_compile_s=0.25, train=train, latency_b1=b1, latency_b32=b32, stateless_b1=stateless,
        stateless_fn="f", device="d", peak_memory=(3.5, True),
    )
    assert (row.peak_memory_gib, row.peak_memory_upper_bound) == (3.5, True)
    assert (row.train_images_per_s, row.train_images_per_s_min, row.train_images_per_s_max) == (20.0, 10.0, 40.0)
    assert (row.train_step_ms, row.train_steps, row.repeats) == (200.0, 30, 3)
    assert (row.latency_ms_b1, row.latency_ms_b1_min, row.latency_ms_b1_max) == (3.0, 2.0, 4.0)
    assert (row.latency_ms_b32, row.latency_ms_b32_min, row.latency_ms_b32_max) == (2.0, 1.0, 3.0)
    assert row.infer_images_per_s == 500.0
    assert (row.latency_ms_b1_stateless, row.latency_ms_b1_stateless_min, row.latency_ms_b1_stateless_max) == (2.0, 1.0, 3.0)
    assert row.epoch_s_ham10000 == round(10015 / 20.0, 2)
    assert row.shortest_repeat_s == 3.0


def test_the_lock_covers_the_build_warmup_compiles_and_every_figure(tmp_path: Path, monkeypatch) -> None:
    """Everything that runs on the device happens inside one hold of the lock."""
    events: list[tuple[str, bool]] = []
    held = [False]

    @contextlib.contextmanager
    def recording_lock(lock):
        assert lock == tmp_path / "lock"
        events.append(("acquire", held[0]))
        held[0] = True
        try:
            yield
        finally:
            held[0] = False
            events.append(("release", held[0]))

    def spy(name, fn):
        def wrapper(*args, **kwargs):
            events.append((name, held[0]))
            return fn(*args, **kwargs)

        return wrapper

    import skinbench.models.build as build

    monkeypatch.setattr(benchmark, "exclusive", recording_lock)
    monkeypatch.setattr(build, "build_model", spy("build", build.build_model))
    monkeypatch.setattr(keras.Model, "fit", spy("fit", keras.Model.fit))
    monkeypatch.setattr(keras.Model, "predict_on_batch", spy("predict_on_batch", keras.Model.predict_on_batch))
    real_predictor = benchmark.stateless_predictor

    def predictor(model, *, jit):
        predict, kind = real_predictor(model, jit=jit)
        return spy("stateless", predict), kind

    monkeypatch.setattr(benchmark, "stateless_predictor", predictor)
    benchmark.bench_backbone(
        "mobilenetv3small", image_size=32, batch_size=2, precision="float32", recipe="augmented", steps=1, warmup=1,
        lock=tmp_path / "lock", min_seconds=0.0, repeats=1,
    )
    names = [name for name, _ in events]
    assert names[0] == "acquire" and names[-1] == "release" and names.count("acquire") == 1
    assert names[1] == "build"
    # fit: the warm-up (the compile), the calibration, one repeat; both predict_on_batch shapes compile inside.
    assert names.count("fit") == 3 and names.count("predict_on_batch") >= 4 and names.count("stateless") >= 2
    assert all(inside for name, inside in events[1:-1]), events


def test_stateless_calls_wait_for_the_last_outputs(monkeypatch) -> None:
    waited = []
    monkeypatch.setattr(timing, "block_until_ready", lambda tree: waited.append(tree) or tree)
    outputs = iter(range(3))
    timing.stateless_calls(lambda batch: next(outputs), {}, 3)
    assert waited == [2]


def test_block_until_ready_returns_what_it_waited_for() -> None:
    tree = {"a": keras.ops.ones((2,)), "b": [keras.ops.zeros((1,))]}
    assert timing.block_until_ready(tree) is tree or keras.backend.backend() == "jax"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(timing.block_until_ready(tree)["a"]), [1.0, 1.0])


def test_precision_lists_expand_both_and_keep_each_once() -> None:
    assert precisions("float32") == ["float32"]
    assert precisions("mixed,both,float32") == ["mixed", "float32"]


def test_pipeline_bench_times_one_epoch_over_every_image(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.csv"
    result = CliRunner().invoke(app, ["bench", "--pipeline", "--image-size", "32", "--count", "64", "--out", str(out), "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out).iloc[0]
    usable = int(synthetic_metadata(64, seed=0)["age"].notna().sum())  # the synthetic set's images with an age
    assert (row.image_size, row.batch_size, row.images) == (32, 32, usable)
    assert row.images_per_s == pytest.approx(row.images / row.epoch_s, rel=0.05)


@pytest.mark.parametrize("option", [["--precision", "half"], ["--precision", "float32,half"], ["--recipe", "both"], ["--image-size", "big"], ["--backbones", "alexnet"]])
def test_bad_options_give_one_line_and_exit_2(option: list[str]) -> None:
    result = CliRunner().invoke(app, ["bench", *option])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output


def test_lock_makes_timed_sections_take_turns(tmp_path: Path) -> None:
    from skinbench.io import exclusive

    lock, spans = tmp_path / "lock", []

    def hold() -> None:
        with exclusive(lock):
            start = time.perf_counter()
            time.sleep(0.2)
            spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 3
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:]))

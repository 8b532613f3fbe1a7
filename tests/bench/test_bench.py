"""skinbench bench: rows carry their settings and measured figures; CSV/JSON on disk; the lock."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import keras
import pandas as pd
import pytest
from typer.testing import CliRunner

from skinbench.benchmark import BenchRow
from skinbench.cli import app
from skinbench.data.synthetic import synthetic_metadata
from skinbench.models.build import build_model
from skinbench.train.env import accelerator_name


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("SKINBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_bench_writes_one_row_per_precision_with_its_settings(tmp_path: Path) -> None:
    out = tmp_path / "bench.csv"
    result = CliRunner().invoke(
        app,
        ["bench", "--backbones", "mobilenetv3small", "--image-size", "32", "--batch-size", "4", "--steps", "2",
         "--warmup", "1", "--recipe", "augmented", "--out", str(out), "--format", "csv"],
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
    pd.testing.assert_frame_equal(pd.DataFrame(json.loads(out.with_suffix(".json").read_text())), frame, check_dtype=False)


def test_pipeline_bench_times_one_epoch_over_every_image(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.csv"
    result = CliRunner().invoke(app, ["bench", "--pipeline", "--image-size", "32", "--count", "64", "--out", str(out), "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out).iloc[0]
    usable = int(synthetic_metadata(64, seed=0)["age"].notna().sum())  # the synthetic set's images with an age
    assert (row.image_size, row.batch_size, row.images) == (32, 32, usable)
    assert row.images_per_s == pytest.approx(row.images / row.epoch_s, rel=0.05)


@pytest.mark.parametrize("option", [["--precision", "half"], ["--recipe", "both"], ["--image-size", "big"], ["--backbones", "alexnet"]])
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

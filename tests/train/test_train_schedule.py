"""The author's schedule (--schedule code): 896-batch epochs from one stream of passes, and its stopping rule."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from skinbench.config import SCHEDULES, Settings
from skinbench.data.pipeline import Batches
from skinbench.records import CellConfig, ScheduleRecord, Timing, read_history


def _batches(n: int, batch_size: int = 8, steps: int | None = None) -> Batches:
    """Training batches whose metadata feature is the sample's index, so a batch names its samples."""
    images = np.zeros((n, 2, 2, 3), dtype=np.uint8)
    ids = np.arange(n, dtype=np.float32)[:, None]
    return Batches(images, np.arange(n), np.arange(n) % 7, ids, batch_size=batch_size, shuffle=True, seed=3, steps=steps)


def _ids(batch) -> list[int]:
    return batch[0]["metadata"][:, 0].astype(int).tolist()


def _epoch(batches: Batches, epoch: int) -> list[list[int]]:
    batches.set_epoch(epoch)
    return [_ids(batches[i]) for i in range(len(batches))]


def test_the_code_schedule_is_the_notebooks() -> None:
    code = SCHEDULES["code"]
    assert (code.epoch_steps, code.monitor, code.patience, code.min_delta, code.max_epochs) == (896, "val_loss", 35, 0.001, 500)
    assert SCHEDULES["paper"].epoch_steps is None and Settings(schedule="code").max_epochs == 500
    assert Settings(schedule="code", epochs=3).max_epochs == 3


@pytest.mark.parametrize("n", [50, 5000])
def test_an_epoch_is_896_batches_whatever_the_training_part(n: int) -> None:
    assert len(_batches(n, steps=896)) == 896
    assert len(_batches(n)) == max(1, n // 8)  # the paper schedule: one pass less the remainder


def test_epochs_are_full_batches_of_one_stream_of_passes() -> None:
    batches = _batches(30, steps=3)  # a pass is 3.75 batches
    stream = [int(i) for p in range(4) for i in batches.order(p)]  # 120 images: passes 0-3
    served = [batch for epoch in range(5) for batch in _epoch(batches, epoch)]
    # the stream cut into full batches (a batch lists its images in cache order, for the memmap)
    assert served == [sorted(stream[8 * b:8 * b + 8]) for b in range(15)]
    assert all(len(batch) == 8 for epoch in range(5) for batch in _epoch(batches, epoch))
    assert list(batches.order(0)) != list(batches.order(1))  # each pass its own shuffle


def test_the_remainder_rotates_so_no_image_is_left_out_more_than_once_more_than_another() -> None:
    batches = _batches(30)  # 3 full batches an epoch, 6 images over each pass
    counts = np.zeros(30, dtype=int)
    for epoch in range(7):
        for batch in _epoch(batches, epoch):
            counts[batch] += 1
    assert counts.sum() == 7 * 24 and counts.max() - counts.min() <= 1


def test_a_resumed_epoch_serves_the_same_batches() -> None:
    first, resumed = _batches(30, steps=3), _batches(30, steps=3)  # the second stands for a new process
    assert _epoch(first, 5) == _epoch(resumed, 5)


def test_evaluation_batches_are_padded_and_in_order() -> None:
    images = np.zeros((10, 2, 2, 3), dtype=np.uint8)
    ids = np.arange(10, dtype=np.float32)[:, None]
    batches = Batches(images, np.arange(10)[::-1], np.arange(10) % 7, ids, batch_size=4, shuffle=False)
    assert batches.n_samples == 10 and len(batches) == 3
    assert [_ids(batches[i]) for i in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 9, 9]]


def test_run_with_the_code_schedule(tmp_path: Path, run_args: list[str], invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import skinbench.train.trainer as trainer

    seen: dict = {}
    real = keras.callbacks.EarlyStopping

    def early_stopping(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(trainer.keras.callbacks, "EarlyStopping", early_stopping)
    out = tmp_path / "run"
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--schedule", "code", "--epochs", "1",
                     "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    assert seen == {"monitor": "val_loss", "patience": 35, "min_delta": 0.001}
    cell = out / "tiny-metadata-paper-s0"
    config = CellConfig.read(cell)
    assert config.schedule == ScheduleRecord("code", 896, "val_loss", 35, 0.001) and config.epochs == 1
    timing = Timing.read(cell)
    assert timing.epoch_images == 896 * config.batch_size  # full batches of the stream
    assert timing.epoch_images > 10 * timing.n_train_images  # many passes per epoch on this tiny set
    assert list(read_history(cell)["epoch"]) == [1]

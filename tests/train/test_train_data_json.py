"""data.json keeps every split that runs and shards into one folder described."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from skinbench.records import DataInfo

BASE = DataInfo(
    name="synthetic", synthetic=True, root="synthetic", layout="ham10000", has_metadata=True, fingerprint="f",
    n_images=10, class_counts={"mel": 10}, dropped={}, problems=[], splits={},
)


def _with_split(seed: int) -> DataInfo:
    return dataclasses.replace(BASE, splits={f"paper-s{seed}": {"val": {"mel": seed}}})


def test_shards_starting_together_keep_each_others_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skinbench.train.runner as runner

    real_read = DataInfo.read_if_present.__func__

    def slow_read(cls, folder: Path):  # widens the window between reading and writing data.json
        value = real_read(cls, folder)
        time.sleep(0.2)
        return value

    runner.write_data_json(tmp_path, _with_split(0))
    monkeypatch.setattr(DataInfo, "read_if_present", classmethod(slow_read))
    shards = [threading.Thread(target=runner.write_data_json, args=(tmp_path, _with_split(seed))) for seed in (1, 2)]
    for shard in shards:
        shard.start()
    for shard in shards:
        shard.join()

    written = DataInfo.read(tmp_path)
    assert written.splits == {f"paper-s{seed}": {"val": {"mel": seed}} for seed in (0, 1, 2)}
    assert written.fingerprint == "f"

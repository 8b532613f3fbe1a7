"""data.json keeps every split that runs and shards into one folder described."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest


def test_shards_starting_together_keep_each_others_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skinbench.train.runner as runner
    from skinbench.io import read_json

    real_read = runner.read_json

    def slow_read(path: Path):  # widens the window between reading and writing data.json
        value = real_read(path)
        time.sleep(0.2)
        return value

    runner.write_data_json(tmp_path, {"fingerprint": "f", "splits": {"paper-s0": {"val": {"MEL": 0}}}})
    monkeypatch.setattr(runner, "read_json", slow_read)
    shards = [
        threading.Thread(target=runner.write_data_json, args=(tmp_path, {"fingerprint": "f", "splits": {f"paper-s{seed}": {"val": {"MEL": seed}}}}))
        for seed in (1, 2)
    ]
    for shard in shards:
        shard.start()
    for shard in shards:
        shard.join()

    written = read_json(tmp_path / "data.json")
    assert written["splits"] == {f"paper-s{seed}": {"val": {"MEL": seed}} for seed in (0, 1, 2)}
    assert written["fingerprint"] == "f"

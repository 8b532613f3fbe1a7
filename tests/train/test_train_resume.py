"""A run killed with SIGKILL in the middle of a cell resumes it from its last saved epoch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd

from skinbench.records import FINISHED, CellStatus, Timing
from tiny_backbone import CLI_WITH_TINY
from job_plugin import HOLD_ENV
from train_helpers import wait_for

FIRST, KILLED = "tiny-metadata-paper-s0", "tiny-metadata-paper-s1"
EPOCHS = 2



def test_killed_cell_resumes_from_its_saved_epoch(tmp_path: Path, two_cells: Path, run_args: list[str], invoke) -> None:
    out = tmp_path / "run"
    shutil.copytree(two_cells, out, ignore=shutil.ignore_patterns("*augmented*"))  # FIRST is finished
    args = ["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--seeds", "0,1",
            "--epochs", str(EPOCHS), "--out", str(out), *run_args]
    process = subprocess.Popen(
        [sys.executable, "-c", CLI_WITH_TINY, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]),
             HOLD_ENV: f"{KILLED}:1"},  # killed while it waits after its first saved epoch
    )
    try:
        wait_for(out / KILLED / "checkpoint" / "latest.json", process)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()

    saved = json.loads((out / KILLED / "checkpoint" / "latest.json").read_text())["folder"]
    state = json.loads((out / KILLED / "checkpoint" / saved / "state.json").read_text())
    done = state["epochs_done"]
    assert done == 1 and not (out / KILLED / "status.json").exists()
    first_stamp = (out / FIRST / "status.json").stat().st_mtime_ns

    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "1 cell(s) trained, 1 already finished" in result.output
    assert (out / FIRST / "status.json").stat().st_mtime_ns == first_stamp  # not retrained

    history = pd.read_csv(out / KILLED / "history.csv")
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))  # same number of epochs as if never stopped
    before = pd.DataFrame(state["history"])
    pd.testing.assert_frame_equal(history.iloc[:done].reset_index(drop=True), before, check_dtype=False)
    assert Timing.read(out / KILLED).traced_epochs == (1, done + 1)  # the resumed process started at the saved epoch
    assert CellStatus.read(out / KILLED).status == FINISHED
    assert not (out / KILLED / "checkpoint").exists()

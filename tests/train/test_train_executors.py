"""--executor local: cells in their own processes, the data prepared once, results as an inline run's;
a job killed mid-cell is recorded failed, the others go on, and the same command resumes it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import job_plugin
from skinbench.classes import ISIC_COLUMNS
from skinbench.records import FAILED, FINISHED, CellJob, CellProgress, CellStatus, JobIds, Timing
from tiny_backbone import CLI_WITH_TINY
from train_helpers import TWO_CELLS, TWO_CELLS_ARGS
from train_helpers import wait_for

HERE = Path(__file__).resolve().parent
FIRST, KILLED, OTHER = "tiny-metadata-paper-s0", "tiny-metadata-paper-s1", "tiny-metadata-paper-s2"


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Jobs import the tests' plugin (the tiny backbone) from tests/train."""
    path = os.pathsep.join(p for p in [str(HERE), os.environ.get("PYTHONPATH", "")] if p)
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("SKINBENCH_PLUGINS", "job_plugin")
    return {"PYTHONPATH": path, "SKINBENCH_PLUGINS": "job_plugin"}


def test_local_jobs_run_every_cell_as_an_inline_run_and_prepare_the_data_once(
    tmp_path: Path, two_cells: Path, run_args: list[str], invoke, job_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKINBENCH_CACHE", str(tmp_path / "cache"))  # nothing prepared yet
    log = tmp_path / "builds.log"
    monkeypatch.setenv(job_plugin.BUILD_LOG_ENV, str(log))
    job_plugin.log_builds(str(log), monkeypatch.setattr)  # this process: the submitting command
    out = tmp_path / "local"

    start = time.monotonic()
    result = invoke([*TWO_CELLS_ARGS, "--executor", "local", "--jobs", "2", "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    assert "2 cell(s) trained, 0 already finished" in result.output
    assert time.monotonic() - start < 600

    # The data was prepared once, by the submitting command: one split, one image cache, one augmented set.
    built = job_plugin.builds(log)
    assert built == {os.getpid(): ["split", "cache", "augmented"]}, built

    pids = set()
    jobs = JobIds.read(out)
    assert jobs.executor == "local" and set(jobs.cells) == set(TWO_CELLS)
    for cell in TWO_CELLS:
        folder = out / cell
        assert CellStatus.read(folder).status == FINISHED
        progress = CellProgress.read(folder)
        assert progress.executor == "local" and progress.phase == FINISHED and progress.epochs_done == 2
        assert progress.job_id == jobs.cells[cell] and progress.pid != os.getpid()
        pids.add(progress.pid)
        job = CellJob.read(folder)
        assert job.executor == "local" and job.gpu is None and job.gpu_sharing == 2
        assert Timing.read(folder).gpu_sharing == 2  # two cells shared this machine's CPU
        # The job rebuilt config.json from the run specification it carries, byte for byte as the inline run wrote it.
        assert (folder / "config.json").read_bytes() == (two_cells / cell / "config.json").read_bytes()
        # Same seeds, same predictions as the inline run.
        mine, inline = pd.read_csv(folder / "predictions.csv"), pd.read_csv(two_cells / cell / "predictions.csv")
        assert list(mine["image"]) == list(inline["image"]) and list(mine["label"]) == list(inline["label"])
        probs, inline_probs = mine[list(ISIC_COLUMNS)].to_numpy(), inline[list(ISIC_COLUMNS)].to_numpy()
        np.testing.assert_allclose(probs, inline_probs, atol=1e-5)
        assert (probs.argmax(1) == inline_probs.argmax(1)).all()
    assert len(pids) == 2  # each cell in its own process
    assert Timing.read(two_cells / TWO_CELLS[0]).gpu_sharing == 1  # inline: alone

    result = invoke([*TWO_CELLS_ARGS, "--executor", "local", "--jobs", "2", "--out", str(out), *run_args])
    assert result.exit_code == 0 and f"all 2 cells of {out} are finished; nothing to do" in result.output



def test_a_killed_local_job_is_recorded_the_others_go_on_and_the_same_command_resumes_it(
    tmp_path: Path, two_cells: Path, run_args: list[str], invoke, job_env
) -> None:
    out = tmp_path / "run"
    shutil.copytree(two_cells, out, ignore=shutil.ignore_patterns("*augmented*"))  # FIRST is finished
    args = ["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--seeds", "0,1,2", "--epochs", "2",
            "--executor", "local", "--jobs", "2", "--out", str(out), *run_args]
    first_stamp = (out / FIRST / "status.json").stat().st_mtime_ns
    process = subprocess.Popen(
        [sys.executable, "-c", CLI_WITH_TINY, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **job_env, job_plugin.HOLD_ENV: f"{KILLED}:1"},  # killed while it waits after epoch 1
    )
    try:
        wait_for(out / KILLED / "checkpoint" / "latest.json", process)
        job_pid = CellProgress.read(out / KILLED).pid
        os.kill(job_pid, signal.SIGKILL)  # the job's own process, mid-cell
        _, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 2, stderr
    assert "1 of 3 cells failed" in stderr and KILLED in stderr

    status = CellStatus.read(out / KILLED)
    assert status.status == FAILED and "ended without finishing the cell" in status.error
    assert CellStatus.read(out / OTHER).status == FINISHED  # the other cell went on
    saved = json.loads((out / KILLED / "checkpoint" / "latest.json").read_text())["folder"]
    state = json.loads((out / KILLED / "checkpoint" / saved / "state.json").read_text())
    done = state["epochs_done"]
    assert done == 1

    result = invoke(args)  # the same command again
    assert result.exit_code == 0, result.output
    assert "1 cell(s) trained, 2 already finished" in result.output
    assert (out / FIRST / "status.json").stat().st_mtime_ns == first_stamp  # finished cells untouched
    history = pd.read_csv(out / KILLED / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    pd.testing.assert_frame_equal(history.iloc[:done].reset_index(drop=True), pd.DataFrame(state["history"]), check_dtype=False)
    assert Timing.read(out / KILLED).traced_epochs == (1, done + 1)  # resumed from its saved epoch
    assert CellStatus.read(out / KILLED).status == FINISHED and not (out / KILLED / "checkpoint").exists()

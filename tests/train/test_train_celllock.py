"""One process at a time trains a cell: two runs on one results folder never train the same cell together."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from job_plugin import HOLD_ENV, RELEASE_ENV
from skinbench.config import Cell
from skinbench.records import FINISHED, CellStatus, Timing
from skinbench.spec import RunSpec
from tiny_backbone import CLI_WITH_TINY
from train_helpers import wait_for

CELL = "tiny-metadata-paper-s0"
EPOCHS = 3


def _start(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    here = str(Path(__file__).resolve().parent)
    return subprocess.Popen(
        [sys.executable, "-c", CLI_WITH_TINY, *args], stdout=open(log, "w"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]), **env},
    )


def _wait_for_text(log: Path, text: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while text not in " ".join(log.read_text().split()):
        assert process.poll() is None, f"the process ended (exit {process.returncode}) before saying {text!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{log.read_text()}"
        time.sleep(0.1)


def test_a_second_run_waits_for_the_cell_the_first_trains(tmp_path: Path, run_args: list[str]) -> None:
    """The issue's race: a second identical run started once the first has saved epoch 1. Before the
    lock it resumed the same cell and the two overwrote each other's checkpoint and results."""
    out, release = tmp_path / "run", tmp_path / "release"
    args = ["run", "--backbones", "tiny", "--recipes", "metadata", "--epochs", str(EPOCHS), "--out", str(out), *run_args]
    first = _start(args, tmp_path / "first.log", **{HOLD_ENV: f"{CELL}:1", RELEASE_ENV: str(release)})
    second = None
    try:
        wait_for(out / CELL / "checkpoint" / "latest.json", first)  # the first holds after its first saved epoch
        second = _start(args, tmp_path / "second.log")
        _wait_for_text(tmp_path / "second.log", f"{CELL}: waiting for the other process to finish it", second)
        release.touch()
        assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()
        assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
    said = " ".join((tmp_path / "second.log").read_text().split())
    assert f"{CELL}: another process is training it" in said and f"{CELL}: finished by another process" in said
    assert "0 cell(s) trained, 1 already finished" in said
    assert "1 cell(s) trained, 0 already finished" in " ".join((tmp_path / "first.log").read_text().split())
    assert CellStatus.read(out / CELL).status == FINISHED
    assert list(pd.read_csv(out / CELL / "history.csv")["epoch"]) == list(range(1, EPOCHS + 1))
    assert Timing.read(out / CELL).traced_epochs == (1,)  # one process trained every epoch, none resumed it


def test_a_run_goes_on_with_its_other_cells_and_comes_back(tmp_path: Path, run_args: list[str], invoke, monkeypatch) -> None:
    """A cell another process holds is left for last; once that process lets go unfinished, this run trains it."""
    import skinbench.train.runner as runner
    from skinbench.train.celllock import cell_lock

    held, free = "tiny-metadata-paper-s0", "tiny-metadata-paper-s1"
    out = tmp_path / "run"
    other = cell_lock(out / held)
    other.acquire()  # as another process would (flock: another open file of this process conflicts too)
    real = runner.wait_for_lock
    order: list[str] = []

    def release_then_wait(lock, stop):  # the other process stops (killed, say) while this run waits
        order.append(f"waits once {free} is {CellStatus.read(out / free).status}")
        other.release()
        return real(lock, stop)

    monkeypatch.setattr(runner, "wait_for_lock", release_then_wait)
    result = invoke(["run", "--backbones", "tiny", "--recipes", "metadata", "--seeds", "0,1", "--epochs", "1",
                     "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert said.count(f"{held}: another process is training it") == 1
    assert order == [f"waits once {free} is finished"]
    assert said.index(f"{free}: finished") < said.index(f"{held}: waiting for the other process to finish it")
    assert "2 cell(s) trained" in said and CellStatus.read(out / held).status == FINISHED


def test_a_job_waits_and_does_not_train_a_cell_the_other_process_finished(tmp_path: Path, monkeypatch) -> None:
    import threading

    from skinbench.train import cell as cell_module
    from skinbench.train.celllock import cell_lock
    from skinbench.train.progress import RunProgress

    folder = tmp_path / "run" / CELL
    other = cell_lock(folder)
    other.acquire()
    said: list[str] = []
    monkeypatch.setattr(RunProgress, "log", lambda self, message: said.append(message))
    outcome: list[str] = []
    cell = Cell("tiny", "metadata", "paper", 0)
    assert cell.cell_id == CELL
    job = threading.Thread(target=lambda: outcome.append(cell_module.run_job(tmp_path / "run", cell, RunSpec())))
    job.start()
    deadline = time.monotonic() + 60
    while not said and time.monotonic() < deadline:
        time.sleep(0.05)
    assert said and said[0].startswith(f"{CELL}: another process is training it") and said[0].endswith("this job waits for it")
    assert job.is_alive()  # waiting
    CellStatus.now(FINISHED).write(folder)  # the other process finishes the cell, then lets go
    other.release()
    job.join(timeout=60)
    assert outcome == [FINISHED] and said[1] == f"{CELL}: finished by another process"
    assert sorted(p.name for p in folder.iterdir()) == [".cell.lock", "status.json"]  # nothing trained here

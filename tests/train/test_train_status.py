"""`skinbench status` from the run folder alone; progress.json and the TensorBoard logs a cell writes;
the executor records and their documented keys."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from skinbench.records import (
    FAILED,
    FINISHED,
    PENDING,
    CellConfig,
    CellJob,
    CellProgress,
    CellStatus,
    JobIds,
    Record,
    RecordError,
    read_history,
)
from skinbench.train.status import RUNNING, run_status
from train_helpers import TWO_CELLS

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
FAILING, RUNNING_HERE, RUNNING_ELSEWHERE, STOPPED, QUEUED = (f"tiny-metadata-paper-s{seed}" for seed in range(1, 6))


def _progress(**values) -> CellProgress:
    base = dict(
        phase="training", epochs_done=3, resumed_from=0, max_epochs=10, best_epoch=2, best_val_accuracy=0.5,
        last_epoch={"epoch": 3, "loss": 1.0, "accuracy": 0.6, "val_loss": 1.1, "val_accuracy": 0.45,
                    "learning_rate": 0.001, "seconds": 1.5, "val_seconds": 0.5},
        epoch_s=2.0, train_s=7.0, started_at=NOW.isoformat(), updated_at=NOW.isoformat(), executor="slurm",
        host=socket.gethostname(), pid=os.getpid(), gpu="1", gpu_sharing=1, job_id="4242_2",
    )
    return CellProgress(**{**base, **values})


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def mixed(tmp_path: Path, two_cells: Path) -> Path:
    """Two finished cells (the two_cells run), and one failed, running here, running on another machine,
    stopped (its process is gone) and queued."""
    out = tmp_path / "run"
    shutil.copytree(two_cells, out)
    config = CellConfig.read(out / TWO_CELLS[1])
    for seed, cell in enumerate((FAILING, RUNNING_HERE, RUNNING_ELSEWHERE, STOPPED, QUEUED), start=1):
        dataclasses.replace(config, cell_id=cell, seed=seed, epochs=10).write(out / cell)
    CellStatus.now(FAILED, "MemoryError: simulated").write(out / FAILING)
    _progress(epochs_done=1, train_s=2.0).write(out / FAILING)
    _progress(updated_at=(NOW - dt.timedelta(seconds=30)).isoformat()).write(out / RUNNING_HERE)
    _progress(host="gpu-node-7", pid=1, job_id="4242_3", gpu="0", gpu_sharing=2).write(out / RUNNING_ELSEWHERE)
    _progress(pid=_dead_pid(), executor="local", job_id="77").write(out / STOPPED)
    JobIds("slurm", NOW.isoformat(), str(out / "jobs"), ("4242",), {QUEUED: "4242_5"}).write(out)
    return out


def test_status_shows_finished_failed_running_and_pending_cells(mixed: Path, invoke, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the full table, one line per cell (test_commands_narrow: 80 columns)
    status = run_status(mixed, now=NOW)
    cells = {cell.cell_id: cell for cell in status.cells}
    assert len(cells) == 7
    for cell in TWO_CELLS:
        history = read_history(mixed / cell)
        finished = cells[cell]
        assert finished.state == FINISHED and (finished.epochs_done, finished.max_epochs) == (2, 2)
        assert finished.best_val_accuracy == pytest.approx(history["val_accuracy"].max())
        assert finished.elapsed_s == pytest.approx((history["seconds"] + history["val_seconds"]).sum())
        assert finished.host == socket.gethostname() and finished.job_id is None  # inline
    failed = cells[FAILING]
    assert failed.state == FAILED and failed.note == "MemoryError: simulated" and failed.epochs_done == 1
    here = cells[RUNNING_HERE]
    assert here.state == RUNNING and (here.epochs_done, here.max_epochs) == (3, 10)
    assert here.best_val_accuracy == 0.5 and here.epoch_s == 2.0
    assert here.left_s == pytest.approx(7 * 2.0)  # 7 epochs left at 2 s, at most
    assert here.elapsed_s == pytest.approx(7.0 + 30)  # saved epochs + the one in progress
    assert (here.gpu, here.job_id) == ("1", "4242_2")
    elsewhere = cells[RUNNING_ELSEWHERE]
    assert elsewhere.state == RUNNING and (elsewhere.host, elsewhere.gpu, elsewhere.gpu_sharing) == ("gpu-node-7", "0", 2)
    stopped = cells[STOPPED]
    assert stopped.state == PENDING and "stopped at epoch 3" in stopped.note
    queued = cells[QUEUED]
    assert queued.state == PENDING and queued.job_id == "4242_5" and queued.note == "queued as job 4242_5"
    assert (status.count(FINISHED), status.count(FAILED), status.count(RUNNING), status.count(PENDING)) == (2, 1, 2, 2)
    assert not status.done

    result = invoke(["status", str(mixed)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    line = {cell: next(l for l in lines if cell in l) for cell in cells}
    # elapsed grows with the time since NOW (set when the module was imported): seconds or minutes
    assert re.search(r"running .* 3/10 .* 0\.5000 .* 2\.0 .* [\d.]+ (s|min) .* 14 s .* GPU 1, job 4242_2", line[RUNNING_HERE])
    assert "gpu-node-7, GPU 0, shared by 2, job 4242_3" in line[RUNNING_ELSEWHERE]
    assert "failed" in line[FAILING] and "MemoryError: simulated" in line[FAILING]
    assert "pending" in line[STOPPED] and "pending" in line[QUEUED] and "queued as job 4242_5" in line[QUEUED]
    assert all("finished" in line[cell] for cell in TWO_CELLS)
    assert "7 cells: 2 finished, 1 failed, 2 running, 2 pending" in result.output


def test_watch_ends_once_every_cell_has_ended(two_cells: Path, invoke) -> None:
    result = invoke(["status", str(two_cells), "--watch", "--interval", "0.5"])
    assert result.exit_code == 0, result.output
    assert "2 cells: 2 finished, 0 failed, 0 running, 0 pending" in result.output


def test_status_of_a_folder_that_is_no_run_is_one_line(tmp_path: Path, invoke) -> None:
    result = invoke(["status", str(tmp_path)])
    assert result.exit_code == 2 and "not a run folder" in result.output


def test_a_cell_leaves_its_progress_in_progress_json(two_cells: Path) -> None:
    for cell in TWO_CELLS:
        progress = CellProgress.read(two_cells / cell)
        history = read_history(two_cells / cell)
        assert progress.phase == FINISHED and progress.executor == "inline" and progress.job_id is None
        assert (progress.epochs_done, progress.max_epochs, progress.resumed_from) == (2, 2, 0)
        assert progress.best_val_accuracy == pytest.approx(history["val_accuracy"].max())
        assert progress.last_epoch == pytest.approx(history.iloc[-1].to_dict())
        assert progress.train_s == pytest.approx((history["seconds"] + history["val_seconds"]).sum(), abs=1e-3)
        assert progress.host == socket.gethostname() and progress.gpu_sharing == 1


def _scalars(folder: Path) -> dict[str, dict[int, float]]:
    """tag -> step -> value from the TensorBoard event files in ``folder`` (TFRecord framing)."""
    from tensorboardX.proto import event_pb2

    found: dict[str, dict[int, float]] = {}
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        data, position = path.read_bytes(), 0
        while position < len(data):
            (length,) = struct.unpack("<Q", data[position:position + 8])
            event = event_pb2.Event.FromString(data[position + 12:position + 12 + length])
            position += 12 + length + 4
            for value in event.summary.value:
                found.setdefault(value.tag, {})[event.step] = value.simple_value
    return found


@pytest.mark.parametrize("cell", TWO_CELLS)
def test_tensorboard_logs_hold_every_epoch(two_cells: Path, cell: str) -> None:
    history = read_history(two_cells / cell).set_index("epoch")
    runs = {run: _scalars(two_cells / cell / "tensorboard" / run) for run in ("train", "validation")}
    expected = {
        ("train", "epoch_loss"): "loss", ("train", "epoch_accuracy"): "accuracy",
        ("train", "epoch_learning_rate"): "learning_rate", ("train", "epoch_seconds"): "seconds",
        ("validation", "epoch_loss"): "val_loss", ("validation", "epoch_accuracy"): "val_accuracy",
        ("validation", "epoch_seconds"): "val_seconds",
    }
    for (run, tag), column in expected.items():
        scalars = runs[run]
        assert sorted(scalars[tag]) == [1, 2], tag
        for epoch, value in scalars[tag].items():
            assert value == pytest.approx(history.loc[epoch, column], rel=1e-5), (tag, epoch)


EXAMPLES: list[Record] = [
    _progress(),
    CellJob("local", "/tmp/cache", "0", 2, True, NOW.isoformat()),
    JobIds("slurm", NOW.isoformat(), "/tmp/run/jobs", ("4242",), {"a-cell": "4242_0"}),
]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: r.FILE)
def test_executor_records_round_trip(record: Record, tmp_path: Path) -> None:
    record.write(tmp_path)
    assert type(record).read(tmp_path) == record


def test_a_job_json_of_an_earlier_skinbench_is_refused_saying_how_to_resubmit(tmp_path: Path) -> None:
    """Before jobs carried the run specification, job.json held the data source and the settings."""
    job = EXAMPLES[1]
    job.write(tmp_path)
    path = tmp_path / CellJob.FILE
    earlier = {**json.loads(path.read_text()), "source": {"name": "synthetic"}, "settings": {"epochs": 2}}
    path.write_text(json.dumps(earlier))
    with pytest.raises(RecordError) as refused:
        CellJob.read(tmp_path)
    assert str(refused.value) == (f"{path}: written by an earlier skinbench, whose jobs read their settings from it; "
                                  "run the same command again to resubmit the cell")


def _documented_keys(doc: Path, file: str) -> set[str]:
    lines = [line for line in doc.read_text().splitlines() if line.startswith(f"- `{file}`:")]
    assert len(lines) == 1, f"{doc} must list the keys of {file} on one line starting with - `{file}`:"
    return set(re.findall(r"`([a-z_0-9]+)`", lines[0].split(":", 1)[1]))


@pytest.mark.parametrize("doc", ["docs/architecture.md", "results/README.md"])
@pytest.mark.parametrize("record", [type(r) for r in EXAMPLES], ids=lambda r: r.FILE)
def test_docs_list_every_key_of_the_executor_records(doc: str, record: type) -> None:
    import typing

    hints = typing.get_type_hints(record)
    expected = {"format_version"}
    for item in dataclasses.fields(record):
        expected.add(item.name)
        if dataclasses.is_dataclass(hints[item.name]):
            expected |= {f.name for f in dataclasses.fields(hints[item.name])}
    assert _documented_keys(ROOT / doc, record.FILE) == expected


def test_a_damaged_finished_cell_is_named_with_the_remedy(two_cells: Path, tmp_path: Path, invoke) -> None:
    out = tmp_path / "run"
    shutil.copytree(two_cells, out)
    predictions = out / TWO_CELLS[0] / "predictions.csv"
    predictions.write_text("".join(predictions.read_text().splitlines(keepends=True)[:-3]))  # cut at a row boundary
    (out / TWO_CELLS[1] / "metrics.json").write_text("{")
    cells = {cell.cell_id: cell for cell in run_status(out).cells}
    assert cells[TWO_CELLS[0]].state == "damaged" and "predictions.csv: changed since the cell wrote it" in cells[TWO_CELLS[0]].note
    assert cells[TWO_CELLS[1]].state == "damaged" and "metrics.json: cannot read" in cells[TWO_CELLS[1]].note
    result = invoke(["status", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 cells: 0 finished, 2 damaged, 0 failed, 0 running, 0 pending" in result.output
    assert "run the same skinbench run command again to repair the cell" in " ".join(result.output.split())

"""A finished cell whose files were damaged is named by `run`, and the same command repairs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinbench.records import MODEL_FILE, CellMetrics, CellStatus, cell_damage
from train_helpers import TWO_CELLS, TWO_CELLS_ARGS

CELL, OTHER = TWO_CELLS


def _copy(two_cells: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(two_cells, out)
    return out


def _cut_rows(path: Path, rows: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-rows]))


@pytest.mark.parametrize(
    "damage",
    [lambda cell: _cut_rows(cell / "predictions.csv", 3), lambda cell: (cell / "metrics.json").write_text('{"format_version": 4, "pa')],
    ids=["predictions-cut-at-a-row", "metrics-truncated"],
)
def test_the_same_run_evaluates_the_kept_model_again(two_cells: Path, tmp_path: Path, run_args: list[str], invoke, damage) -> None:
    out = _copy(two_cells, tmp_path)
    before = {cell: pd.read_csv(out / cell / "predictions.csv") for cell in TWO_CELLS}
    metrics = {cell: CellMetrics.read(out / cell) for cell in TWO_CELLS}
    names = ("history.csv", "timing.json", "model.json", MODEL_FILE)
    untouched = {(cell, name): (out / cell / name).read_bytes() for cell in TWO_CELLS for name in names}
    for cell in TWO_CELLS:  # an image-only cell and a metadata cell
        damage(out / cell)
        assert cell_damage(out / cell)
    result = invoke([*TWO_CELLS_ARGS, "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "0 cell(s) trained, 0 already finished, 2 repaired" in text
    for cell in TWO_CELLS:
        assert f"{cell}: damaged (" in text
        assert cell_damage(out / cell) == {}
        after = pd.read_csv(out / cell / "predictions.csv")
        assert list(after["image"]) == list(before[cell]["image"]) and (after["label"] == before[cell]["label"]).all()
        columns = [c for c in after.columns if c not in ("image", "label")]
        assert np.abs(after[columns].to_numpy() - before[cell][columns].to_numpy()).max() <= 1e-5
        repaired = CellMetrics.read(out / cell)
        assert repaired.n_images == metrics[cell].n_images and repaired.part == metrics[cell].part
        assert repaired.values["balanced_accuracy"] == pytest.approx(metrics[cell].values["balanced_accuracy"], abs=1e-6)
    assert text.count("evaluating its kept model again") == 2
    assert {key: (out / key[0] / key[1]).read_bytes() for key in untouched} == untouched  # nothing trained again


@pytest.mark.parametrize("lost", [MODEL_FILE, "status.json"])
def test_without_a_whole_kept_model_the_cell_trains_again(
    two_cells: Path, tmp_path: Path, run_args: list[str], invoke, lost: str
) -> None:
    out = _copy(two_cells, tmp_path)
    _cut_rows(out / CELL / "predictions.csv", 3)
    if lost == MODEL_FILE:
        (out / CELL / MODEL_FILE).unlink()
    else:
        (out / CELL / "status.json").write_text('{"format_version": 4, "sta')  # its outcome unknown
    other = (out / OTHER / "status.json").stat().st_mtime_ns
    result = invoke([*TWO_CELLS_ARGS, "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{CELL}: damaged (" in text and "training it again" in text
    assert "1 cell(s) trained, 1 already finished" in text
    assert CellStatus.read(out / CELL).status == "finished" and cell_damage(out / CELL) == {}
    assert len(pd.read_csv(out / CELL / "history.csv")) == 2  # trained from the start, both epochs
    assert (out / OTHER / "status.json").stat().st_mtime_ns == other


def test_the_printed_remedy_of_a_damaged_metrics_json_is_true(two_cells: Path, tmp_path: Path, run_args: list[str], invoke) -> None:
    """The report names the damaged cell and says to run the same command; doing so repairs it."""
    out = _copy(two_cells, tmp_path)
    (out / CELL / "metrics.json").write_text(json.dumps({"format_version": 4})[:-3])
    report = invoke(["report", str(out), "--out", str(tmp_path / "report"), "--bootstrap", "0", "--no-plots"])
    assert report.exit_code == 0, report.output
    row = next(line for line in (tmp_path / "report" / "report.md").read_text().splitlines() if line.startswith(f"| {CELL} "))
    assert "damaged" in row and "run the same skinbench run command again to repair the cell" in row
    assert invoke([*TWO_CELLS_ARGS, "--out", str(out), *run_args]).exit_code == 0
    report = invoke(["report", str(out), "--out", str(tmp_path / "report"), "--bootstrap", "0", "--no-plots"])
    assert report.exit_code == 0 and "damaged" not in (tmp_path / "report" / "report.md").read_text()

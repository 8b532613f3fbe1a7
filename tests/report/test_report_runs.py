"""Reading run folders: shards merge, half-finished matrices report, bad folders fail clearly."""

from __future__ import annotations

import re

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skinbench.errors import RunError
from skinbench.report.build import build_report
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise
from skinbench.report.tables import accuracy_table
from skinbench.studies.do2022.published import published


def _edit_json(path: Path, **changes: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="nope: no such run folder"):
        load_results([tmp_path / "nope"])


def test_a_folder_without_a_run_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    with pytest.raises(RunError, match="not a run folder"):
        load_results([tmp_path])


def test_shards_merge_into_one_list_of_cells(shards: list[Path]) -> None:
    results = load_results(shards)
    states = {c.cell_id: c.status for c in results.cells}
    assert len(states) == 9
    assert states["resnet50-metadata-paper-s0"] == "failed"
    assert states["nasnetmobile-metadata-paper-s0"] == "pending"
    assert sum(s == "finished" for s in states.values()) == 7
    assert not results.synthetic  # the fixture says HAM10000


def test_a_cell_finished_in_two_shards_is_ambiguous(shards: list[Path]) -> None:
    shutil.copytree(shards[0] / "densenet201-metadata-paper-s0", shards[1] / "densenet201-metadata-paper-s0")
    with pytest.raises(RunError, match="densenet201-metadata-paper-s0 finished in both"):
        load_results(shards)


def test_a_finished_copy_wins_over_a_failed_one(shards: list[Path]) -> None:
    copy = shards[1] / "densenet201-metadata-paper-s0"
    shutil.copytree(shards[0] / copy.name, copy)
    _edit_json(copy / "status.json", status="failed", error="killed")
    (cell,) = [c for c in load_results(shards).cells if c.cell_id == copy.name]
    assert cell.status == "finished" and cell.path.parent == shards[0]


def test_different_datasets_do_not_merge(shards: list[Path]) -> None:
    _edit_json(shards[1] / "data.json", fingerprint="other")
    with pytest.raises(RunError, match="different datasets"):
        load_results(shards)


def test_a_finished_cell_without_predictions_is_listed_as_damaged(shards: list[Path]) -> None:
    (shards[0] / "inceptionresnetv2-metadata-paper-s0" / "predictions.csv").unlink()
    summary = summarise(load_results(shards), bootstrap_n=0)
    (broken,) = [c for c in summary.unfinished if c.cell_id == "inceptionresnetv2-metadata-paper-s0"]
    assert broken.status == "damaged" and "predictions.csv: missing" in broken.error


def test_half_finished_matrix_reports_dashes(tmp_path: Path, shards: list[Path]) -> None:
    run = tmp_path / "half"
    run.mkdir()
    shutil.copy(shards[0] / "data.json", run)
    shutil.copytree(shards[1] / "nasnetmobile-metadata-paper-s0", run / "nasnetmobile-metadata-paper-s0")
    path, summary = build_report([run], bootstrap=0, plots=False)
    assert path == run / "report.md"
    text = path.read_text()
    assert "NASNetMobile" in re.search(r"^Not run here \(\d+ of the paper's rows.*$", text, re.M).group(0)
    assert "| nasnetmobile-metadata-paper-s0 | pending  | —       |" in text
    assert "No cell has finished." in text
    every = build_report([run], bootstrap=0, plots=False, all_rows=True)[0].read_text()
    assert "| NASNetMobile      | —          | 0.86    | —            |" in every  # --all-rows: the paper's row, a dash


def test_missing_cells_show_a_dash_and_nothing_is_filled_in(shards: list[Path]) -> None:
    table = accuracy_table(summarise(load_results(shards), bootstrap_n=0), published(), 4, "augmented")
    row = table.frame.set_index("row").loc["InceptionResNetV2"]
    assert row["n_seeds"] == 0 and row["paper"] == 0.93
    assert row[["run", "run_std", "ci_low", "difference"]].isna().all()


def test_several_splits_are_labelled(shards: list[Path]) -> None:
    source = shards[0] / "densenet201-metadata-paper-s0"
    lesion = shards[0] / "densenet201-metadata-lesion-s0"
    shutil.copytree(source, lesion)
    shutil.copy(shards[0] / "split-paper-s0.csv", shards[0] / "split-lesion-s0.csv")
    _edit_json(lesion / "config.json", split="lesion", cell_id=lesion.name)
    rows = list(accuracy_table(summarise(load_results(shards), bootstrap_n=0), published(), 5, "metadata").frame["row"])
    assert "DenseNet201 [paper split]" in rows and "DenseNet201 [lesion split]" in rows


def test_report_into_a_run_folder_can_be_rebuilt(shards: list[Path]) -> None:
    first, _ = build_report(shards, bootstrap=0, plots=False)
    assert first == shards[0] / "report.md"
    second, summary = build_report(shards, bootstrap=0, plots=False)  # its own CSVs are not cells
    assert second.read_text() == first.read_text() and len(summary.cells) == 7


def test_cli_writes_the_report_and_fails_cleanly(tmp_path: Path, shards: list[Path]) -> None:
    from skinbench.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["report", *map(str, shards), "--out", str(tmp_path / "out"), "--bootstrap", "0", "--no-plots"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.md").exists() and "95% CI" not in (tmp_path / "out" / "report.md").read_text()
    result = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "no such run folder" in result.output and "Traceback" not in result.output


def test_metrics_json_that_disagrees_with_predictions_is_a_warning(shards: list[Path]) -> None:
    _edit_json(shards[0] / "densenet201-metadata-paper-s1" / "metrics.json", accuracy=0.99)
    path, _ = build_report(shards, bootstrap=0, plots=False)
    assert "densenet201-metadata-paper-s1: metrics.json says accuracy 0.9900 but predictions.csv gives" in path.read_text()


def test_a_finished_cell_with_a_broken_history_is_listed_as_damaged(shards: list[Path]) -> None:
    (shards[0] / "densenet201-metadata-paper-s1" / "history.csv").write_text("")
    summary = summarise(load_results(shards), bootstrap_n=0)
    (broken,) = [c for c in summary.unfinished if c.cell_id == "densenet201-metadata-paper-s1"]
    assert broken.status == "damaged" and "history.csv: cannot read" in broken.error


def test_report_files_follow_the_umask(tmp_path: Path, shards: list[Path]) -> None:
    import os
    import stat

    old = os.umask(0o027)  # group may read, others nothing
    try:
        build_report(shards, tmp_path / "out", bootstrap=0, plots=True)
    finally:
        os.umask(old)
    written = list((tmp_path / "out").rglob("*"))
    assert any(p.suffix == ".png" for p in written) and any(p.suffix == ".csv" for p in written)
    for path in written:
        expected = 0o750 if path.is_dir() else 0o640
        assert stat.S_IMODE(path.stat().st_mode) == expected, f"{path}: {oct(path.stat().st_mode)}"


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda cell: (cell / "metrics.json").write_text((cell / "metrics.json").read_text()[:40]), "metrics.json: cannot read"),
        (lambda cell: _cut_rows(cell / "predictions.csv", 5), "predictions.csv: changed since the cell wrote it"),
    ],
    ids=["truncated-metrics", "predictions-cut-at-a-row"],
)
def test_a_damaged_cell_is_named_and_the_rest_of_the_report_is_written(shards: list[Path], tmp_path: Path, damage, fragment: str) -> None:
    from skinbench.cli import app

    cell = "densenet201-metadata-paper-s1"
    damage(shards[0] / cell)
    result = CliRunner().invoke(app, ["report", *map(str, shards), "--out", str(tmp_path / "out"), "--bootstrap", "0", "--no-plots"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "report.md").read_text()
    assert "1 damaged" in text.split("\n## ", 1)[0]  # the header's count
    row = next(line for line in text.splitlines() if line.startswith(f"| {cell} "))
    assert "| damaged " in row and fragment in row and "run the same skinbench run command again to repair the cell" in row
    summary = summarise(load_results(shards), bootstrap_n=0)
    assert len(summary.cells) == 6 and cell not in {r.cell.cell_id for r in summary.cells}  # the 6 others are reported


def _cut_rows(path: Path, rows: int) -> None:
    """predictions.csv cut at a row boundary: the file still parses, with fewer rows."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-rows]))

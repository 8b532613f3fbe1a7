"""The docs' Python API example, run as it is written: a run, its folder read back, its report."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import skinbench
from skinbench.spec import SPEC_FILE, RunSpec, read_options

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "python-api.md"


def _example() -> str:
    return re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)


def test_the_documented_example_runs_and_reads_its_run_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKINBENCH_CACHE", str(tmp_path / "cache"))
    exec(compile(_example(), str(GUIDE), "exec"), {})
    printed = capsys.readouterr().out
    out = tmp_path / "results" / "api-example"
    run = skinbench.load_run(out)
    assert [cell.cell_id for cell in run.cells] == ["mobilenetv3small-metadata-paper-s0"]
    assert isinstance(run.table, pd.DataFrame) and run.table["cell"].tolist() == ["mobilenetv3small-metadata-paper-s0"]
    assert 0 <= run.table["accuracy"].iloc[0] <= 1
    assert f"{run.table['accuracy'].iloc[0]:.6f}"[:4] in printed  # the table the example printed
    assert (out / "report.md").exists() and str(out / "report.md") in printed
    kept = RunSpec.from_options(**read_options(out / SPEC_FILE))
    assert kept.matrix.backbones == "mobilenetv3small" and kept.training.epochs == 1

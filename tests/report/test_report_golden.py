"""report.md and every CSV of the committed fixture equal the committed golden files.

Regenerate them after an intended change with
    SKINBENCH_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/report/test_report_golden.py
and review the diff. The fixture itself comes from tests/report/make_fixture.py.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from make_fixture import FIXTURES
from make_fixture import main as make_fixture

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("SKINBENCH_UPDATE_GOLDEN") == "1"


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".md", ".csv"))


def test_report_and_csvs_match_the_golden_files(built_report: Path) -> None:
    if UPDATE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir()
        for name in _outputs(built_report):
            shutil.copy(built_report / name, GOLDEN / name)
    assert _outputs(built_report) == _outputs(GOLDEN)
    for name in _outputs(GOLDEN):
        assert (built_report / name).read_text() == (GOLDEN / name).read_text(), f"{name} differs from tests/report/golden"


def test_report_embeds_plots_that_exist(built_report: Path) -> None:
    text = (built_report / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert "plots/ablation.png" in links and "plots/cost.png" in links
    assert sum(link.startswith("plots/cells/") for link in links) == 7  # one per finished cell
    for link in links:
        assert (built_report / link).stat().st_size > 1000, link


def test_report_opens_with_this_runs_cells_ranked_then_all_ten_tables(built_report: Path) -> None:
    text = (built_report / "report.md").read_text()
    assert text.splitlines()[0] == "# skinbench report"
    sections = re.findall(r"^## (.*)$", text, flags=re.M)
    assert sections[0] == "This run's cells, ranked"
    assert re.findall(r"^## Table (\d+)\.", text, flags=re.M) == [str(n) for n in range(2, 12)]
    ranked = text.split("## This run's cells, ranked", 1)[1].split("\n## ", 1)[0]
    values = [float(v) for v in re.findall(r"^\| \d+ +\| \S+ +\| (\d\.\d+)", ranked, flags=re.M)]
    assert len(values) == 7 and values == sorted(values, reverse=True)  # every finished cell, best first


def test_fixture_is_what_make_fixture_writes(tmp_path: Path) -> None:
    make_fixture(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file())
    assert written == committed
    for path in written:
        assert (tmp_path / path).read_bytes() == (FIXTURES / path).read_bytes(), path

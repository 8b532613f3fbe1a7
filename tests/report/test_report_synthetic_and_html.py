"""A synthetic run's report compares nothing with the paper; report.html is report.md, self-contained."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from make_fixture import dataset, split, write_cell
from skinbench.records import FINISHED
from skinbench.report.build import build_report


@pytest.fixture
def synthetic_run(tmp_path: Path) -> Path:
    frame, out = dataset(), tmp_path / "run"
    for seed in (0, 1):
        for recipe in ("augmented", "metadata"):
            write_cell(out, frame, split(frame, seed), "densenet201", recipe, None, seed, FINISHED, synthetic=True)
    return out


def test_a_synthetic_report_prints_no_difference_and_no_verdict(synthetic_run: Path) -> None:
    text = build_report([synthetic_run], bootstrap=0, plots=False)[0].read_text()
    assert text.splitlines()[0] == "# skinbench report: SYNTHETIC DATA, not HAM10000"
    assert "check the mechanics only" in text
    headers = [line for line in text.splitlines() if line.startswith("| ")]
    assert not [h for h in headers if "Difference" in h or "Verdict" in h]  # no such column in any table
    assert "difference (run − paper)" not in text and "(no difference: this run's images are synthetic)" in text
    claims = text.split("## The paper's claims, tested", 1)[1].split("\n## ", 1)[0]
    assert "| Comparison" in claims  # the comparisons are still shown


def test_report_html_embeds_its_figures_and_sorts_its_tables(synthetic_run: Path) -> None:
    path, _ = build_report([synthetic_run], bootstrap=0, plots=True)
    page = (synthetic_run / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "addEventListener(\"click\"" in page
    assert 'src="plots/' not in page and "data:image/png;base64," in page  # nothing to fetch
    first = page.split("data:image/png;base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(first).startswith(b"\x89PNG")
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page


def test_report_html_renders_in_a_headless_browser(synthetic_run: Path, tmp_path: Path) -> None:
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium installed: report.html was not opened in a browser")
    build_report([synthetic_run], bootstrap=0, plots=True)
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", (synthetic_run / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert "<table>" in dom and "<img" in dom and "This run's cells, ranked" in dom

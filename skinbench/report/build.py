"""``skinbench report``'s library function: run folders in, report.md + CSVs + plots out."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from skinbench.io import write_csv, write_text
from skinbench.report.claims import claims_section
from skinbench.report.clinical import clinical_section, reliability_figure, write_clinical
from skinbench.report.deployment import CSV_NAME as DEPLOYMENT_CSV
from skinbench.report.deployment import deployment_section
from skinbench.report.document import compose
from skinbench.report.external import write_external
from skinbench.report.html import write_html
from skinbench.report.leak import leak_section
from skinbench.report.official import official_section
from skinbench.report.plots import Figures, draw_all, save_figure
from skinbench.report.render import write_table_csv
from skinbench.report.runs import load_results
from skinbench.report.subgroups import CSV_NAME as SUBGROUPS_CSV
from skinbench.report.subgroups import subgroup_section
from skinbench.report.summary import Summary, summarise
from skinbench.report.tables import build_tables, cells_frame
from skinbench.studies.do2022.published import DEFAULT_VERSION, published

REPORT_NAME = "report.md"
HTML_NAME = "report.html"
CELLS_NAME = "cells.csv"


def build_report(
    folders: Sequence[Path], out: Path | None = None, *, bootstrap: int = 1000, plots: bool = True,
    paper: str = DEFAULT_VERSION, all_rows: bool = False, html: bool = True,
) -> tuple[Path, Summary]:
    """Write report.md, one CSV per table, cells.csv and (unless ``plots`` is False) the figures.

    ``out`` defaults to the first run folder; ``bootstrap`` is the number of resamples for the
    95% intervals (0 skips them); ``paper`` the version of the paper whose numbers stand beside this run's
    (``studies.do2022.published.VERSIONS``; an unknown one is a RunError before anything is read). Returns the report's path and the summary it was built from.
    """
    printed = published(paper)
    results = load_results(folders)
    out = Path(out) if out is not None else results.folders[0]
    summary = summarise(results, bootstrap)
    tables = build_tables(summary, printed)
    official_text, official_table = official_section(summary)
    claims_text, claims_table = claims_section(summary, printed)
    leak_text, leak_table = leak_section(summary)
    for table in [*tables, *(t for t in (claims_table, leak_table, official_table) if t is not None)]:
        write_table_csv(table, out)
    deployment_text, deployment = deployment_section(summary)
    if not deployment.empty:
        write_csv(out / DEPLOYMENT_CSV, deployment, float_format="%.6g")
    write_csv(out / CELLS_NAME, cells_frame(summary), float_format="%.6g")
    clinical_text, calibrated, points = clinical_section(summary)
    write_clinical(out, calibrated, points)
    subgroups_text, subgroups = subgroup_section(summary)
    if not subgroups.empty:
        write_csv(out / SUBGROUPS_CSV, subgroups, float_format="%.6g")
    figures = draw_all(summary, tables, out) if plots else Figures()
    if plots and (figure := reliability_figure(summary)) is not None:
        clinical_text += f"\n![Reliability of each cell's reported part]({save_figure(figure, out, 'reliability.png')})\n"
    claims = "\n".join(text for text in (claims_text, leak_text) if text)
    after = official_text + deployment_text + clinical_text + subgroups_text + write_external(summary, out)
    path = write_text(out / REPORT_NAME, compose(summary, printed, tables, figures, after, claims, all_rows=all_rows))
    if html:
        write_html(path, out / HTML_NAME)
    return path, summary

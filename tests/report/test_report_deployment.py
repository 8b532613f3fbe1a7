"""The report's deployment table from ExportReports kept in cells' export/ folders."""

from __future__ import annotations

from pathlib import Path

from skinbench.records import EXPORT_DIR, ExportReport
from skinbench.report.build import build_report

FAST, SLOW = "mobilenetv3large-metadata-paper-s0", "inceptionresnetv2-metadata-paper-s0"


def _export(cell: Path, latency_ms: float, confident_agreement: float | None) -> None:
    latency = {"median": latency_ms, "q1": latency_ms, "q3": latency_ms, "runs": 50}
    ExportReport(cell.name, "tflite", "model-tflite.tflite", 1.0, "CPU x", latency, latency, 2, 10, 1.0,
                 0 if confident_agreement is None else 10, confident_agreement, 0.0, 0.0, 0.0,
                 ).write_path(cell / EXPORT_DIR / "model-tflite.tflite.json")


def _section(text: str) -> str:
    return text.split("## Deployment: exported models\n", 1)[1].split("\n## ", 1)[0]


def test_missing_values_show_a_dash_and_the_paper_pair_gives_the_ratio(shards: list[Path]) -> None:
    cells = {p.name: p for shard in shards for p in shard.iterdir() if p.is_dir()}
    assert FAST in cells and SLOW in cells
    _export(cells[FAST], 4.0, None)  # no image was confident enough: no agreement on them
    _export(cells[SLOW], 120.0, 1.0)
    path, _ = build_report(shards, bootstrap=0, plots=False)
    section = _section(path.read_text())
    (row,) = [line for line in section.splitlines() if line.startswith(f"| {FAST}")]
    assert "nan" not in section and "—" in row
    assert "MobileNetV3Large is 30.0 times faster than InceptionResNetV2 (tflite, batch 1, 1 thread, CPU x" in section

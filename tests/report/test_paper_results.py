"""Every value in the preprint's data file (studies/do2022/preprint.csv) matches the seed paper's text, and nothing is missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skinbench.catalogue import BACKBONES
from skinbench.studies.do2022.published import published

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "000_af7c15a66b6bd985.txt"

_CANONICAL = {backbone.display.lower(): backbone.display for backbone in BACKBONES.values()}
_TABLE8_MODELS = {"[22]": "MobileNetV2", "[23]Small": "MobileNetV3Small", "[23]Large": "MobileNetV3Large", "[33]Mobile": "NASNetMobile"}
_METRIC_ROWS = {
    "Accuracy(avg)": "accuracy",
    "Balanced Accuracy(avg)": "balanced_accuracy",
    "Precision(avg)": "precision",
    "F1-score(avg)": "f1",
    "Sensitivity(avg)": "sensitivity",
    "Specificity(avg)": "specificity",
    "ROC-AUC-score(avg)": "auc",
    "ROC AUC Score(avg)": "auc",
    "Accuracy": "accuracy",
    "No. Parameters": "params_m",
    "Depth": "depth",
    "Time Prediction(s/epochs)": "epoch_s",
}
_TABLE3_COLUMNS = {"Size(MB)": "size_mb", "Parameters": "params_m", "Depth": "depth"}


def _canonical(label: str) -> str:
    """A backbone name (or 'Backbone + suffix') in the package's display spelling."""
    head, sep, tail = label.partition(" + ")
    return _CANONICAL.get(head.lower(), head) + sep + tail


def _number(text: str) -> float | None:
    text = text.removesuffix("M")
    return None if text == "Unknown" else float(text)


def _blocks(lines: list[str], number: int) -> list[list[str]]:
    """The tab-separated lines just above the caption of table ``number``, cells stripped of markup."""
    end = next(i for i, line in enumerate(lines) if line.startswith(f"**Table {number}.**"))
    rows: list[list[str]] = []
    for line in reversed(lines[:end]):
        if "\t" in line:
            rows.insert(0, [re.sub(r"</?b>", "", cell).strip() for cell in line.split("\t")])
        elif line.strip():
            break
    return rows


def _seed_values(lines: list[str]) -> set[tuple[str, str, str, float | None]]:
    values: set[tuple[str, str, str, float | None]] = set()

    def add(table: int, row: str, column: str, value: str) -> None:
        values.add((str(table), row, column, _number(value)))

    header, counts = _blocks(lines, 2)
    for name, count in zip(header[1:], counts[1:]):
        add(2, name.lower(), "n_images", count)
    header, *rows = _blocks(lines, 3)
    for row in rows:
        for column, value in zip(header[1:], row[1:]):
            add(3, _canonical(row[0]), _TABLE3_COLUMNS[column], value)
    for table in (4, 5):
        block = _blocks(lines, table)
        for names, numbers in zip(block[::2], block[1::2]):
            for name, value in zip(names, numbers):
                add(table, _canonical(name), "accuracy", value)
    for table in (6, 7):
        header, *rows = _blocks(lines, table)
        for row in rows:
            for column, value in zip(header[1:], row[1:]):
                add(table, _canonical(row[0]), column.lower(), value)
    header, *rows = _blocks(lines, 8)
    for row in rows:
        for model, value in zip(header[1:], row[1:]):
            add(8, _TABLE8_MODELS[model], _METRIC_ROWS[row[0]], value)
    for label, value in _blocks(lines, 9)[1:]:
        add(9, _canonical(label), "accuracy", value)
    for label, value in _blocks(lines, 10):
        add(10, "MobileNetV3Large", _METRIC_ROWS[label], value)
    header, *rows = _blocks(lines, 11)
    for row in rows:
        for model, value in zip(header[1:], row[1:]):
            add(11, _canonical(model), _METRIC_ROWS[row[0]], value)
    return values


def _csv_values() -> set[tuple[str, str, str, float | None]]:
    frame = published("preprint").frame
    return {
        (row.table, row.row, row.column, None if row.value != row.value else float(row.value))
        for row in frame.itertuples()
    }


@pytest.mark.skipif(not SEED.exists(), reason=f"seed paper not found at {SEED}")
def test_every_paper_value_matches_the_seed_text() -> None:
    seed = _seed_values(SEED.read_text().splitlines())
    assert {t for t, *_ in seed} == {str(n) for n in range(2, 12)}
    csv = _csv_values()
    assert csv - seed == set(), "in preprint.csv but not in the seed"
    assert seed - csv == set(), "in the seed but not in preprint.csv"


def test_no_duplicate_entries() -> None:
    frame = published("preprint").frame
    assert not frame.duplicated(["table", "row", "column"]).any()


def test_lookups() -> None:
    assert published("preprint").value(3, "ResNet50", "params_m") == 25.6
    assert published("preprint").value(3, "MobileNetV3Large", "size_mb") is None
    assert published("preprint").value(4, "MobileNetV3Large", "accuracy") is None
    assert published("preprint").table(3).loc["NASNetLarge", "depth"] == 533

"""`skinbench status` and `skinbench compare` on an 80-column terminal: the narrow layout, chosen from the
console's width (COLUMNS), with every cell still named; a wide terminal keeps the full table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from skinbench.cli import app
from skinbench.commands.narrow import short_ids
from skinbench.config import CELL_ID_PARTS, cell_id_parts
from skinbench.records import CellConfig

FIXTURES = Path(__file__).resolve().parents[1] / "report" / "fixtures"  # tests/report/make_fixture.py
SHARDS = [str(FIXTURES / name) for name in ("shard-a", "shard-b", "shard-c")]
FALLBACK = "narrow layout: the full table needs"


def _invoke(columns: int, *args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def _short(cell: str, shared: set[str]) -> str:
    """The id without the parts named shared, as the narrow layout shows it."""
    return "-".join(value for part, value in zip(CELL_ID_PARTS, cell_id_parts(cell)) if part not in shared)


def test_status_falls_back_to_the_narrow_layout_at_80_columns() -> None:
    run = FIXTURES / "shard-a"
    cells = sorted(p.parent.name for p in run.glob(f"*/{CellConfig.FILE}"))
    narrow = _invoke(80, "status", str(run))
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    assert max(map(len, lines)) <= 80, narrow.output
    assert lines[0].startswith(FALLBACK) and sum(FALLBACK in line for line in lines) == 1
    assert "ids below leave out what every cell shares: recipe metadata, split paper" in narrow.output
    shared = {"recipe", "split"}
    for cell in cells:  # each short id starts its row, with the cell's state, once
        short = _short(cell, shared)
        rows = [line for line in lines if line.split()[:1] == [short]]
        assert len(rows) == 1 and rows[0].split()[1] in ("finished", "pending", "failed"), (short, narrow.output)
    assert "cells:" in narrow.output and "finished" in narrow.output  # the totals

    wide = _invoke(200, "status", str(run))
    assert wide.exit_code == 0, wide.output
    assert FALLBACK not in wide.output and "ids below" not in wide.output
    assert all(f" {cell} " in wide.output for cell in cells)  # whole ids, as before
    assert max(map(len, wide.output.splitlines())) > 80


def test_status_breaks_long_ids_after_a_hyphen_within_80_columns() -> None:
    run = FIXTURES / "shard-b"  # ablation rows: mobilenetv3large-ablation-cut230-paper-s0
    result = _invoke(80, "status", str(run))
    assert result.exit_code == 0, result.output
    assert max(map(len, result.output.splitlines())) <= 80, result.output
    assert "every cell shares: split paper, seed s0" in result.output
    lines = result.output.splitlines()
    broken = [i for i, line in enumerate(lines) if line.startswith("mobilenetv3large-ablation- ")]
    assert [lines[i].split()[0] + lines[i + 1].split()[0] for i in broken] == [
        "mobilenetv3large-ablation-cut230", "mobilenetv3large-ablation-cut240"]


def test_compare_falls_back_to_the_narrow_layout_at_80_columns(tmp_path: Path) -> None:
    args = ["compare", *SHARDS, "--a", "*-ablation-cut2*-paper-*", "--b", "mobilenetv3large-metadata-paper-*",
            "--bootstrap", "20"]
    out = tmp_path / "compare.csv"
    narrow = _invoke(80, *args, "--out", str(out))
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    assert max(map(len, lines)) <= 80, narrow.output
    assert lines[0].startswith(FALLBACK) and sum(FALLBACK in line for line in lines) == 1
    frame = pd.read_csv(out)
    pairs = list(dict.fromkeys(zip(frame["a"], frame["b"])))
    assert len(pairs) == 5
    text = " ".join(narrow.output.split())
    assert "ids below leave out what every cell shares: backbone mobilenetv3large, split paper, seed s0" in text
    shared = {"backbone", "split", "seed"}
    for number, (a, b) in enumerate(pairs, start=1):  # each pair's two cells, named once above the table
        assert f"pair {number}: a = {_short(a, shared)}, b = {_short(b, shared)}" in lines
        rows = [line.split() for line in lines if line.split()[:1] == [str(number)]]
        assert [row[1] for row in rows] == ["bal_acc", "accuracy", "macro_f1"]
    assert "abbreviated: bal_acc = balanced_accuracy" in lines

    wide = _invoke(200, *args)
    assert wide.exit_code == 0, wide.output
    assert FALLBACK not in wide.output and "pair 1:" not in wide.output
    assert all(a in wide.output and b in wide.output for a, b in pairs)


def test_markdown_and_csv_keep_their_format_at_80_columns() -> None:
    args = ["compare", *SHARDS, "--a", "*-metadata-*", "--b", "*-augmented-*", "--bootstrap", "0"]
    for fmt in ("markdown", "csv"):
        result = _invoke(80, *args, "--format", fmt)
        assert result.exit_code == 0 and FALLBACK not in result.output, result.output
        assert "densenet201-metadata-paper-s0" in result.output


@pytest.mark.parametrize(
    "ids, shared, short",
    [
        (["tiny-augmented-paper-s0", "tiny-metadata-paper-s0"], ("backbone", "split", "seed"), ["augmented", "metadata"]),
        (["resnet50-metadata-paper-s0", "vgg16-metadata-paper-s1"], ("recipe", "split"), ["resnet50-s0", "vgg16-s1"]),
        (["m-ablation-cut230-nometa-paper-s0", "m-ablation-cut230-paper-s0", "m-metadata-paper-s{0,1}"],
         ("backbone", "split"), ["ablation-cut230-nometa-s0", "ablation-cut230-s0", "metadata-s{0,1}"]),
        (["tiny-metadata-lesion-s3"], ("backbone", "split", "seed"), ["metadata"]),  # one cell keeps its recipe
        (["tiny-metadata-paper-s0", "not a cell"], (), ["tiny-metadata-paper-s0", "not a cell"]),
    ],
)
def test_short_ids_leave_out_only_the_parts_every_id_shares(ids: list[str], shared: tuple, short: list[str]) -> None:
    found = short_ids(ids)
    assert tuple(part for part, _ in found.shared) == shared
    assert [found.short[cell] for cell in ids] == short
    assert len(set(found.short.values())) == len(ids)

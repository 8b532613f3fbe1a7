"""Tables printed through skinbench.console: no header or number cut or folded, on or off a terminal."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd
import pytest
from rich.console import Console

from skinbench import console as skin_console
from skinbench.console import print_frame

#: The `skinbench bench` table's columns and more: long headers, numbers such as 160.69.
WIDE = pd.DataFrame({
    "backbone": ["MobileNetV3Large", "InceptionResNetV2", "NASNetMobile"],
    "precision": ["float32", "mixed", "float32"],
    "px": [224, 299, 224],
    "batch": [32, 32, 32],
    "train img/s": [160.69, 1234.56, 87.5],
    "compile s": [12.34, 45.67, 8.9],
    "ms/img b1": [3.21, 12.75, 6.03],
    "ms/img b32": [0.52, 0.25, 0.61],
    "s/HAM10000 pass": [62.33, 8.11, 114.46],
    "a much longer header than any value": [1.5, 2.25, None],
    "recipe": ["Metadata and WeightLoss", "Augmented Data", "Metadata and WeightLoss"],
})
TITLE = "skinbench bench (tensorflow on CPU)"


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    return [["—" if pd.isna(v) else str(v) for v in row] for row in frame.itertuples(index=False)]


def _assert_whole(text: str, frame: pd.DataFrame, *, headers_whole: bool) -> None:
    """Every number whole on one line; every header whole on one line (or, if headers may
    wrap, each of its words whole)."""
    lines = text.splitlines()
    for header in map(str, frame.columns):
        parts = [header] if headers_whole else header.split()
        for part in parts:
            assert any(part in line for line in lines), f"header {header!r} cut: {part!r} is on no line\n{text}"
    for row in _cells(frame):
        for cell in row:
            for part in cell.split():
                assert any(part in line for line in lines), f"value {cell!r} cut\n{text}"


def test_a_pipe_gets_the_whole_table_one_line_per_row() -> None:
    """`skinbench bench ... > file`: stdout is no terminal, the default width 80."""
    script = (
        "import pandas as pd, sys\n"
        "from skinbench.console import print_frame\n"
        "print_frame(pd.read_json(sys.stdin), title=%r)\n" % TITLE
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=WIDE.to_json(), capture_output=True, text=True, timeout=120,
        env={**_environ(), "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert max(len(line) for line in text.splitlines()) > 80  # wider than the console: nothing squeezed
    _assert_whole(text, WIDE, headers_whole=True)
    header_line = next(line for line in text.splitlines() if "backbone" in line)
    assert all(str(column) in header_line for column in WIDE.columns)
    for row in _cells(WIDE):
        assert any(all(cell in line for cell in row) for line in text.splitlines()), f"row {row} not on one line"
    assert TITLE in text


def _environ() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch):
    """Swap the shared console for one writing to a buffer: ``screen(terminal, width)``."""

    def make(terminal: bool, width: int) -> io.StringIO:
        buffer = io.StringIO()
        monkeypatch.setattr(skin_console, "console", Console(file=buffer, force_terminal=terminal, width=width, color_system=None))
        return buffer

    return make


def test_off_a_terminal_any_console_width_gets_the_natural_width(screen) -> None:
    buffer = screen(False, 40)
    print_frame(WIDE, title=TITLE)
    _assert_whole(buffer.getvalue(), WIDE, headers_whole=True)
    assert "┃ backbone" in buffer.getvalue()


def test_a_wide_terminal_gets_the_table_as_is(screen) -> None:
    buffer = screen(True, 400)
    print_frame(WIDE, title=TITLE)
    text = buffer.getvalue()
    _assert_whole(text, WIDE, headers_whole=True)
    assert max(len(line) for line in text.splitlines()) <= 400


def test_a_narrower_terminal_wraps_headers_at_spaces_never_values(screen) -> None:
    buffer = screen(True, 150)
    print_frame(WIDE, title=TITLE)
    text = buffer.getvalue()
    assert "┃" in text  # still a rich table
    assert max(len(line) for line in text.splitlines()) <= 150
    _assert_whole(text, WIDE, headers_whole=False)
    for number in ("160.69", "1234.56", "114.46", "0.25"):
        assert any(number in line for line in text.splitlines())


def test_a_terminal_too_narrow_for_any_table_gets_markdown(screen) -> None:
    buffer = screen(True, 60)
    print_frame(WIDE, title=TITLE)
    text = buffer.getvalue()
    assert text.startswith(TITLE) and "| backbone" in text
    _assert_whole(text, WIDE, headers_whole=True)
    for row in _cells(WIDE):  # the same cells as the table, not re-formatted numbers
        assert any(all(cell in line for cell in row) for line in text.splitlines())


def test_bench_table_off_a_terminal(screen) -> None:
    """The bench command's own table (its renamed columns) into a log file."""
    from skinbench.commands.bench import TABLE_COLUMNS, _emit

    buffer = screen(False, 80)
    frame = pd.DataFrame([{
        "backbone": "mobilenetv3large", "precision": "mixed", "image_size": 224, "batch_size": 32,
        "train_images_per_s": 160.69, "train_images_per_s_min": 158.31, "train_images_per_s_max": 161.07,
        "compile_s": 23.45, "latency_ms_b1": 4.56, "latency_ms_b1_stateless": 1.23, "latency_ms_b32": 0.78,
        "epoch_s_ham10000": 62.33, "backend": "tensorflow", "device": "CPU",
    }])
    _emit(frame, None, "table")
    shown = frame[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    _assert_whole(buffer.getvalue(), shown, headers_whole=True)


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
def test_markdown_and_csv_are_unchanged(screen, fmt: str) -> None:
    buffer = screen(False, 40)
    print_frame(WIDE, fmt)
    expected = WIDE.to_csv(index=False) if fmt == "csv" else WIDE.astype(object).where(WIDE.notna(), "—").to_markdown(index=False) + "\n"
    assert buffer.getvalue() == expected

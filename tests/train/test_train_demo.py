"""`make demo` and `make demo-full` are reproducible: their run command, run twice, writes
byte-identical predictions.

The commands are read from the Makefile's targets, so the tests run what ``make demo`` runs.
The default suite runs a small version (the demo matrix's metadata cell, one epoch at 32 px on the
tests' 150-image set); the slow one runs the demo's first command whole for one seed (both recipes,
5 epochs at 64 px on the demo's 1,000-image synthetic set).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from skinbench.records import CellMetrics, read_history

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def demo_run_commands(target: str = "demo") -> list[list[str]]:
    """The ``skinbench run`` commands of the Makefile's ``target``, as arguments, ``--out`` left out."""
    commands, in_demo = [], False
    for line in MAKEFILE.read_text().splitlines():
        if not line.startswith("\t"):
            in_demo = line.startswith(f"{target}:")
            continue
        words = shlex.split(line.strip())
        if in_demo and words[:2] == ["$(BIN)/skinbench", "run"]:
            out = words.index("--out")
            commands.append(words[1:out] + words[out + 2:])
    return commands


def _twice(invoke, args: list[str], tmp_path: Path) -> tuple[Path, Path]:
    runs = (tmp_path / "first", tmp_path / "second")
    for out in runs:
        result = invoke([*args, "--quiet", "--out", str(out)])
        assert result.exit_code == 0, result.output
    return runs


def _assert_identical(first: Path, second: Path) -> None:
    cells = sorted(p.parent.name for p in first.glob("*/predictions.csv"))
    assert cells and cells == sorted(p.parent.name for p in second.glob("*/predictions.csv"))
    for cell in cells:
        assert (first / cell / "predictions.csv").read_bytes() == (second / cell / "predictions.csv").read_bytes(), cell
        assert CellMetrics.read(first / cell) == CellMetrics.read(second / cell)
        losses = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]  # not the seconds
        assert read_history(first / cell)[losses].equals(read_history(second / cell)[losses])
    assert (first / "split-paper-s0.csv").read_bytes() == (second / "split-paper-s0.csv").read_bytes()


def test_the_makefile_demo_runs_the_demo_matrix_once_and_the_full_one_under_three_splits() -> None:
    (quick,) = demo_run_commands()
    assert quick[:3] == ["run", "--matrix", "demo"] and quick[quick.index("--seeds") + 1] == "0" and "--split" not in quick
    commands = demo_run_commands("demo-full")
    assert [c[c.index("--split") + 1] if "--split" in c else "paper" for c in commands] == ["paper", "lesion", "leaky"]
    assert all(c[:3] == ["run", "--matrix", "demo"] and "--seeds" in c for c in commands)


@pytest.mark.slow  # about 35 s on a 2-core CPU; the default suite keeps under 15 minutes
def test_the_demo_command_twice_gives_byte_identical_predictions(tmp_path: Path, tiny_data: Path, invoke) -> None:
    command = demo_run_commands()[0]
    dataset = command.index("--dataset")
    small = [*command[:dataset], *command[dataset + 2:], "--data-dir", str(tiny_data),
             "--recipes", "metadata", "--seeds", "0", "--epochs", "1", "--image-size", "32", "--no-keep-models"]
    _assert_identical(*_twice(invoke, small, tmp_path))


@pytest.mark.slow
def test_the_demos_first_command_twice_gives_byte_identical_predictions(tmp_path: Path, train_cache: Path, invoke) -> None:
    _assert_identical(*_twice(invoke, [*demo_run_commands()[0], "--seeds", "0"], tmp_path))

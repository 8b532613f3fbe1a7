"""Fixtures for the trainer and runner tests: a tiny synthetic HAM10000 in a private cache.

Every training test runs the real path (synthetic images -> cache -> Batches -> build_model
with random weights -> fit -> records) at 32 pixels for one to three epochs. Tests of the
runner's mechanics (records, reruns, failures, resume) train the test-only ``tiny`` backbone
(tiny_backbone.py); real backbones train in the ablation test and, marked slow, in
test_train_backbones.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import tiny_backbone
from train_helpers import TWO_CELLS_ARGS

#: Small enough to train in seconds, large enough for a stratified split of all 7 classes.
TINY_COUNT = 150
TINY_SIZE = (64, 48)

@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``tiny`` backbone, registered for one test (every CLI training test has it through ``run_args``)."""
    tiny_backbone.register(monkeypatch)
    return tiny_backbone.NAME


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private skinbench cache for this session (also seen by subprocesses)."""
    root = tmp_path_factory.mktemp("skinbench-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKINBENCH_CACHE", str(root))
        yield root

@pytest.fixture(scope="session")
def tiny_data(train_cache: Path) -> Path:
    """A 150-image synthetic HAM10000 folder."""
    from skinbench.data.synthetic import ensure_synthetic

    return ensure_synthetic(count=TINY_COUNT, size=TINY_SIZE, seed=0, progress=False)

def _run_args(tiny_data: Path) -> list[str]:
    return ["--data-dir", str(tiny_data), "--image-size", "32", "--batch-size", "16", "--weights", "none", "--quiet", "--allow-cpu"]


@pytest.fixture
def run_args(tiny_data: Path, tiny: str) -> list[str]:
    """Options every CLI training test shares: the tiny data, 32 px, random weights, plain logs."""
    return _run_args(tiny_data)


@pytest.fixture(scope="session")
def two_cells(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A finished run of two cells (2 epochs each); tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("run") / "two"
    with pytest.MonkeyPatch.context() as patch:
        tiny_backbone.register(patch)
        result = cli([*TWO_CELLS_ARGS, "--out", str(out), *_run_args(tiny_data)])
    assert result.exit_code == 0, result.output
    return out


def cli(args: list[str]):
    """Invoke ``skinbench`` in-process; the result has ``exit_code`` and ``output``."""
    from typer.testing import CliRunner

    from skinbench.cli import app

    return CliRunner().invoke(app, args)

@pytest.fixture
def invoke():
    return cli


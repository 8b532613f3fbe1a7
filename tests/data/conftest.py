"""Small synthetic HAM10000 folders for the data tests, and a private cache per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data_helpers import SMALL_COUNT, SMALL_SIZE
from skinbench.data.synthetic import generate


@pytest.fixture(autouse=True)
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty SKINBENCH_CACHE."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SKINBENCH_CACHE", str(root))
    return root


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic HAM10000 of 300 images at 64x48, seed 0. Shared: copy it before changing it."""
    root = tmp_path_factory.mktemp("synthetic") / "ham"
    generate(root, count=SMALL_COUNT, size=SMALL_SIZE, seed=0, workers=1, progress=False)
    return root


@pytest.fixture
def ham_copy(synth_root: Path, tmp_path: Path) -> Path:
    """A private copy of ``synth_root`` that a test may change."""
    return Path(shutil.copytree(synth_root, tmp_path / "ham"))

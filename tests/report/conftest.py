"""The committed fixture (two shards of one run folder) and a report built from it once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from make_fixture import FIXTURES

SHARDS = [FIXTURES / "shard-a", FIXTURES / "shard-b"]


@pytest.fixture(scope="session")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of both shards, plots included, in a fresh folder."""
    from skinbench.report.build import build_report

    out = tmp_path_factory.mktemp("report")
    build_report(SHARDS, out)
    return out


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    """A writable copy of the fixture shards."""
    copies = []
    for shard in SHARDS:
        shutil.copytree(shard, tmp_path / shard.name)
        copies.append(tmp_path / shard.name)
    return copies

"""skinbench.io: atomic writes give files the permissions the umask says, as any created file has."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from skinbench.io import write_atomic, write_csv, write_json, write_text


@pytest.fixture(params=[0o022, 0o027], ids=["umask-022", "umask-027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask, then restore the process's own."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_writer_applies_the_umask(tmp_path: Path, umask: int) -> None:
    written = [
        write_json(tmp_path / "a.json", {"x": 1}),
        write_text(tmp_path / "b.md", "text"),
        write_csv(tmp_path / "c.csv", pd.DataFrame({"x": [1]})),
        write_atomic(tmp_path / "d.png", lambda tmp: tmp.write_bytes(b"png")),
    ]
    for path in written:
        assert _mode(path) == 0o666 & ~umask, f"{path.name}: {oct(_mode(path))}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md", "c.csv", "d.png"]  # no temporary file left


def test_a_rewrite_takes_the_umask_of_the_moment(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "a.json"
    path.write_text("{}")
    path.chmod(0o600)
    write_json(path, {"x": 2})
    assert _mode(path) == 0o666 & ~umask

"""The documentation site builds with warnings as errors, and its command reference comes from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict_with_every_command_in_the_reference(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reference = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    for command in ("skinbench run", "skinbench ablate mobilenetv3", "skinbench report", "skinbench data fetch"):
        assert f"<code>{command}</code>" in reference, command
    assert "--print-config" in reference and "--bn-momentum" in reference


def test_the_readme_is_a_landing_page_with_links_that_resolve() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_000
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    assert (ROOT / "LICENSE").exists() and (ROOT / "CITATION.cff").exists()

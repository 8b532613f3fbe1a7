"""benchmarks/demo_check.py: the headline numbers of a fresh demo report beside the committed one, and a verdict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from bench_scripts import script

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "demo-reference"


@pytest.fixture(scope="module")
def demo_check():
    with script("demo_check") as module:
        yield module


def _report(folder: Path, accuracy: float = 0.61, verdict: str = "supported") -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame([{"cell": "m-metadata-paper-s0", "status": "finished", "accuracy": accuracy, "balanced_accuracy": 0.4,
                   "macro_f1": 0.35, "macro_auc": 0.8}]).to_csv(folder / "cells.csv", index=False)
    pd.DataFrame([{"comparison": "x (a) − y (b)", "measure": "Accuracy", "kind": "difference", "value": 0.1,
                   "verdict": verdict}]).to_csv(folder / "claims.csv", index=False)
    pd.DataFrame([{"model": "M", "a_split": "paper", "b_split": "lesion", "metric": "accuracy", "difference": 0.05}]).to_csv(
        folder / "leak.csv", index=False)
    return folder


def test_the_same_report_matches(tmp_path: Path, demo_check, capsys) -> None:
    committed = _report(tmp_path / "committed")
    fresh = tmp_path / "fresh"
    shutil.copytree(committed, fresh)
    rows, same = demo_check.compare(fresh, committed)
    assert same and len(rows) == 4 + 2 + 1
    assert demo_check.main(fresh, committed) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "matches the committed one" in last and "7 headlines equal" in last


@pytest.mark.parametrize("change", [{"accuracy": 0.62}, {"verdict": "not resolved at this sample size"}])
def test_a_changed_number_or_verdict_is_named(tmp_path: Path, demo_check, capsys, change: dict) -> None:
    committed, fresh = _report(tmp_path / "committed"), _report(tmp_path / "fresh", **change)
    rows, same = demo_check.compare(fresh, committed)
    assert not same and sum(not equal for *_, equal in rows) == 1
    demo_check.main(fresh, committed)
    out = capsys.readouterr().out
    assert "DIFFERS from the committed one" in out and "1 of 7 headlines differ" in out and "<- differs" in out


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="no committed demo report")
def test_the_committed_demo_report_has_headlines_of_every_kind(demo_check) -> None:
    keys = [h.key for h in demo_check.headlines(REFERENCE)]
    assert any(" balanced_accuracy" in k for k in keys) and any(k.startswith("claim ") for k in keys)
    assert any(k.startswith("leak ") and " leaky - lesion " in k for k in keys)

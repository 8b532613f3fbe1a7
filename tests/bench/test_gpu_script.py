"""benchmarks/gpu.sh: each step's status its own, a non-zero exit when a step was skipped or
failed, no empty CSV; and the tables it writes from what its steps ran."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from bench_scripts import script

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "report" / "fixtures"


def test_a_budget_too_small_for_its_steps_exits_non_zero_and_writes_no_csv(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "GPU_BENCH_QUICK": "1", "GPU_BENCH_BUDGET_S": "10", "SKINBENCH_CACHE": str(tmp_path / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    status = (out / "status.txt").read_text().splitlines()
    assert status == [f"{step} skipped (budget)" for step in ("compile", "epochs", "together", "bench")]
    assert not list(out.glob("*.csv"))


@pytest.fixture(scope="module")
def gpu_tables():
    with script("gpu_tables") as module:
        yield module


def test_epochs_and_jobs_tables_come_from_the_finished_cells(gpu_tables, tmp_path: Path) -> None:
    rows = gpu_tables.epochs_rows(FIXTURES / "shard-a")
    assert {row["cell"] for row in rows} == {
        "densenet201-metadata-paper-s0", "densenet201-metadata-paper-s1", "inceptionresnetv2-metadata-paper-s0",
        "mobilenetv3large-metadata-paper-s0"}
    row = next(r for r in rows if r["cell"] == "densenet201-metadata-paper-s0")
    history = pd.read_csv(FIXTURES / "shard-a" / row["cell"] / "history.csv")
    assert row["first_val_s"] == history["val_seconds"].iloc[0] and row["val_s"] == history["val_seconds"].iloc[1:].median()
    assert row["n_val_images"] == len(pd.read_csv(FIXTURES / "shard-a" / row["cell"] / "predictions.csv"))
    # jobs: cells run at once, beside the single cells of the same backbones only
    together = tmp_path / "together"
    shutil.copytree(FIXTURES / "shard-a" / "mobilenetv3large-metadata-paper-s0", together / "mobilenetv3large-metadata-paper-s1")
    jobs = gpu_tables.jobs_rows(together, FIXTURES / "shard-a")
    assert [(r["backbone"], r["gpu_sharing"]) for r in jobs] == [("mobilenetv3large", 1), ("mobilenetv3large", 1)]
    assert gpu_tables.jobs_rows(together, tmp_path / "nothing") == []  # nothing run alone: no table


def test_no_rows_means_no_file(gpu_tables, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no bench row"):
        gpu_tables.main(["merge", str(tmp_path), str(tmp_path / "bench.csv")])
    assert not (tmp_path / "bench.csv").exists()

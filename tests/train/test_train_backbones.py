"""Every real backbone trains a cell end to end through `skinbench run` (slow: `make test-all`).

The default suite trains the test-only tiny backbone for the runner's mechanics and
MobileNetV3Large in the ablation test; tests/models builds and predicts with every backbone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from skinbench.catalogue import BACKBONES
from skinbench.records import FINISHED, CellConfig, CellStatus, Timing


@pytest.mark.slow
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_backbone_trains_one_epoch(backbone: str, tmp_path: Path, run_args: list[str], invoke) -> None:
    size = max(BACKBONES[backbone].min_size, 32)
    out = tmp_path / "run"
    args = ["run", "--backbones", backbone, "--recipes", "metadata", "--epochs", "1", "--out", str(out), *run_args,
            "--image-size", str(size)]  # the last --image-size wins
    result = invoke(args)
    assert result.exit_code == 0, result.output
    cell = out / f"{backbone}-metadata-paper-s0"
    assert CellStatus.read(cell).status == FINISHED
    assert CellConfig.read(cell).image_size == size and Timing.read(cell).epochs_run == 1
    split = pd.read_csv(out / "split-paper-s0.csv")
    predictions = pd.read_csv(cell / "predictions.csv")
    assert sorted(predictions["image"]) == sorted(split.loc[split["part"] == "val", "image_id"])

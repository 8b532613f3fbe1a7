"""The ISIC 2018 Task 3 test set as the official scorer scores it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from skinbench.catalogue import ISIC2018_UNSCORED
from skinbench.data.ham10000 import UNSCORED_REASON, load_test_set
from skinbench.classes import ISIC_COLUMNS

SCORED = [f"ISIC_00350{n:02d}" for n in range(10, 17)]


def _test_set(root: Path, ids: list[str], images: list[str]) -> Path:
    rows = [{"image": image, **{c: float(c == ISIC_COLUMNS[i % 7]) for c in ISIC_COLUMNS}} for i, image in enumerate(ids)]
    pd.DataFrame(rows).to_csv(root / "ISIC2018_Task3_Test_GroundTruth.csv", index=False)
    folder = root / "ISIC2018_Task3_Test_Input"
    folder.mkdir()
    for image in images:
        Image.new("RGB", (8, 6), (120, 80, 60)).save(folder / f"{image}.jpg")
    return root


@pytest.mark.parametrize("with_image", [True, False], ids=["image-present", "image-absent"])
def test_the_image_the_scorer_weighs_zero_is_left_out_and_counted(tmp_path: Path, with_image: bool) -> None:
    unscored = ISIC2018_UNSCORED[0]
    root = _test_set(tmp_path, [*SCORED, unscored], SCORED + ([unscored] if with_image else []))
    test = load_test_set(root)
    assert sorted(test.frame["image_id"]) == SCORED
    assert test.dropped == {UNSCORED_REASON: 1}  # not "image missing": the scorer never counts it
    assert unscored in UNSCORED_REASON


def test_a_test_set_without_it_drops_nothing(tmp_path: Path) -> None:
    test = load_test_set(_test_set(tmp_path, SCORED, SCORED))
    assert sorted(test.frame["image_id"]) == SCORED and test.dropped == {}

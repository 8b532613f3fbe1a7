"""The dataset registry: each synthetic layout reads back as written, classes map as stated, bad files are one error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from skinbench.data.datasets import DATASETS, detect
from skinbench.data.synthetic_external import SHIFTS, generate_external
from skinbench.errors import DataError


@pytest.mark.parametrize("name", list(SHIFTS))
def test_each_synthetic_layout_is_detected_and_read(tmp_path: Path, name: str) -> None:
    folder = generate_external(tmp_path / name, name, count=200, size=(32, 24))
    entry = detect(folder)
    assert entry.name == name
    external = entry.read(folder)
    frame = external.frame
    assert frame["path"].map(lambda p: Path(p).is_file()).all()
    assert (frame["dx"].isna() == frame["source_class"].isin(entry.unmapped_classes)).all()
    assert (frame.loc[frame["dx"].notna(), "source_class"].map(entry.mapping) == frame.loc[frame["dx"].notna(), "dx"]).all()
    assert len(external.unmapped) > 0  # classes without a counterpart are kept, apart
    assert frame["sex"].isin(["male", "female", "unknown"]).all()
    assert frame["localization"].isin(set(entry.sites.values()) | {"unknown"}).all()


def test_isic2019_rows_that_are_not_one_hot_are_one_error(tmp_path: Path) -> None:
    folder = generate_external(tmp_path / "isic", "isic2019", count=20, size=(32, 24))
    truth = pd.read_csv(folder / "ISIC_2019_Training_GroundTruth.csv")
    truth.loc[0, ["MEL", "NV"]] = 1.0
    truth.to_csv(folder / "ISIC_2019_Training_GroundTruth.csv", index=False)
    with pytest.raises(DataError, match=f"1 row\\(s\\) are not one-hot \\(first: {truth.loc[0, 'image']}\\)"):
        DATASETS.get("isic2019").read(folder)


def test_a_class_outside_the_mapping_is_named(tmp_path: Path) -> None:
    folder = generate_external(tmp_path / "pad", "pad-ufes-20", count=20, size=(32, 24))
    meta = pd.read_csv(folder / "metadata.csv")
    meta.loc[0, "diagnostic"] = "XYZ"
    meta.to_csv(folder / "metadata.csv", index=False)
    with pytest.raises(DataError, match="class\\(es\\) XYZ are not in the PAD-UFES-20 mapping"):
        DATASETS.get("pad-ufes-20").read(folder)


def test_a_folder_of_no_known_layout_asks_for_the_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no known dataset layout .* pass --dataset NAME"):
        detect(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        detect(tmp_path / "missing")
    with pytest.raises(DataError, match="not in the Derm7pt layout: no meta/meta.csv"):
        DATASETS.get("derm7pt").read(tmp_path)

"""Splits: class proportions, no lesion in two parts, identical files for the same seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_helpers import REAL_CSV
from skinbench.classes import CLASSES
from skinbench.data.ham10000 import read_metadata_csv
from skinbench.data.splits import load_split, make_split, reported_part, save_split
from skinbench.data.synthetic import synthetic_metadata
from skinbench.errors import DataError, SkinbenchError
from skinbench.records import RecordError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Full-size synthetic metadata: 10,015 images, about 7,500 lesions."""
    return synthetic_metadata(10015, seed=0)


def _shares(frame: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """Share of each class's images in each part."""
    merged = frame[["image_id", "dx"]].merge(split, on="image_id")
    return pd.crosstab(merged["dx"], merged["part"], normalize="index").reindex(list(CLASSES))


def test_paper_split_is_stratified_90_10(frame: pd.DataFrame) -> None:
    split = make_split(frame, "paper", seed=0)
    assert list(split["image_id"]) == list(frame["image_id"])
    assert set(split["part"]) == {"train", "val"}
    assert (split["part"] == "val").sum() == round(0.1 * len(frame))
    shares = _shares(frame, split)
    assert shares["val"].between(0.09, 0.11).all(), shares


def test_lesion_split_groups_lesions_and_keeps_proportions(frame: pd.DataFrame) -> None:
    split = make_split(frame, "lesion", seed=0)
    parts = frame[["lesion_id"]].assign(part=split["part"].to_numpy())
    assert (parts.groupby("lesion_id")["part"].nunique() == 1).all()
    sizes = split["part"].value_counts(normalize=True)
    assert sizes["train"] == pytest.approx(0.70, abs=0.01)
    assert sizes["val"] == pytest.approx(0.15, abs=0.01) and sizes["test"] == pytest.approx(0.15, abs=0.01)
    shares = _shares(frame, split)
    assert (shares["train"] - 0.70).abs().max() < 0.05, shares
    assert (shares[["val", "test"]] - 0.15).abs().max().max() < 0.05, shares


def test_leaky_split_is_stratified_70_15_15_image_by_image(frame: pd.DataFrame) -> None:
    split = make_split(frame, "leaky", seed=0)
    assert list(split["image_id"]) == list(frame["image_id"])
    counts = split["part"].value_counts()
    assert counts["test"] == pytest.approx(0.15 * len(frame), abs=1) and counts["val"] == pytest.approx(0.15 * len(frame), abs=1)
    shares = _shares(frame, split)
    assert (shares["train"] - 0.70).abs().max() < 0.01, shares
    assert (shares[["val", "test"]] - 0.15).abs().max().max() < 0.01, shares
    assert reported_part("leaky") == "test"


def test_leaky_split_has_the_lesion_splits_sizes_and_the_paper_splits_leak(frame: pd.DataFrame) -> None:
    """Leaky minus lesion holds the training size and the reported part's size equal: only the leak differs."""
    leaky, lesion = make_split(frame, "leaky", seed=0), make_split(frame, "lesion", seed=0)
    sizes = leaky["part"].value_counts(normalize=True) - lesion["part"].value_counts(normalize=True)
    assert sizes.abs().max() < 0.01, sizes
    parts = frame[["lesion_id"]].assign(part=leaky["part"].to_numpy())
    across = parts.groupby("lesion_id")["part"].nunique() > 1
    assert across.sum() > 100  # lesions with images in two parts: the leak
    test_lesions = set(frame.loc[(leaky["part"] == "test").to_numpy(), "lesion_id"])
    trained = set(frame.loc[(leaky["part"] == "train").to_numpy(), "lesion_id"])
    assert len(test_lesions & trained) > 50


def test_paper_split_is_unchanged_by_the_leaky_one(frame: pd.DataFrame) -> None:
    """The paper split is still scikit-learn's one stratified cut of 10% (the files earlier runs wrote)."""
    from sklearn.model_selection import train_test_split

    _, val = train_test_split(range(len(frame)), test_size=0.1, stratify=frame["dx"], random_state=5)
    split = make_split(frame, "paper", seed=5)
    assert sorted(split.index[split["part"] == "val"]) == sorted(val)


def test_paper_split_leaks_lesions(frame: pd.DataFrame) -> None:
    """The paper's split ignores lesion_id: some lesions sit on both sides (the known leak)."""
    split = make_split(frame, "paper", seed=0)
    parts = frame[["lesion_id"]].assign(part=split["part"].to_numpy())
    assert (parts.groupby("lesion_id")["part"].nunique() > 1).sum() > 50


@pytest.mark.parametrize("split", ["paper", "leaky", "lesion"])
def test_same_seed_same_file(frame: pd.DataFrame, tmp_path: Path, split: str) -> None:
    first = save_split(make_split(frame, split, seed=3), tmp_path / "a.csv")
    second = save_split(make_split(frame, split, seed=3), tmp_path / "b.csv")
    other = save_split(make_split(frame, split, seed=4), tmp_path / "c.csv")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    pd.testing.assert_frame_equal(load_split(first), make_split(frame, split, seed=3))


def test_custom_fractions_and_reported_part(frame: pd.DataFrame) -> None:
    split = make_split(frame, "lesion", seed=0, fractions=(0.8, 0.1, 0.1))
    assert split["part"].value_counts(normalize=True)["train"] == pytest.approx(0.8, abs=0.01)
    assert reported_part("paper") == "val" and reported_part("lesion") == "test"


def test_bad_arguments_and_files(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(SkinbenchError, match="unknown split 'random'; use one of: paper, leaky, lesion, official"):
        make_split(frame, "random", seed=0)
    with pytest.raises(SkinbenchError, match="give 3 positive numbers that sum to 1"):
        make_split(frame, "lesion", seed=0, fractions=(0.5, 0.5))
    bad = tmp_path / "split.csv"
    bad.write_text("image,fold\nISIC_1,0\n")
    with pytest.raises(RecordError, match="is not a split file"):
        load_split(bad)


@pytest.mark.skipif(not REAL_CSV.is_file(), reason="the real HAM10000_metadata.csv (../shared/data) is not here")
def test_lesion_split_of_the_real_csv() -> None:
    real = read_metadata_csv(REAL_CSV)
    split = make_split(real, "lesion", seed=0)
    parts = real[["lesion_id"]].assign(part=split["part"].to_numpy())
    assert (parts.groupby("lesion_id")["part"].nunique() == 1).all()
    assert (_shares(real, split)["test"] - 0.15).abs().max() < 0.05

"""The synthetic HAM10000: real layout and statistics, same seed same bytes, learnable classes and metadata."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import GroupShuffleSplit
from threadpoolctl import threadpool_limits

from data_helpers import REAL_CSV, SMALL_COUNT, SMALL_SIZE
from skinbench.catalogue import HAM10000_IMAGES, HAM10000_PART_1_IMAGES
from skinbench.classes import CLASSES
from skinbench.data.ham10000 import METADATA_CSV, load_dataset
from skinbench.data.metadata import MetadataEncoder
from skinbench.data.synthetic import (
    CSV_COLUMNS,
    FOLDERS,
    GENERATOR_VERSION,
    PARAMETERS_FILE,
    class_counts,
    ensure_synthetic,
    generate,
    lesion_masks,
    synthetic_metadata,
)
from skinbench.data.synthetic_stats import compute_stats, load_stats
from skinbench.errors import DataError

NV = CLASSES.index("nv")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_real_layout(synth_root: Path) -> None:
    table = pd.read_csv(synth_root / METADATA_CSV)
    assert list(table.columns) == CSV_COLUMNS
    assert len(table) == SMALL_COUNT and table["image_id"].is_unique
    files = {p.stem: p for folder in FOLDERS for p in (synth_root / folder).glob("*.jpg")}
    assert set(files) == set(table["image_id"])
    part_1 = round(SMALL_COUNT * HAM10000_PART_1_IMAGES / HAM10000_IMAGES)  # the download's share: 5,000 of 10,015
    assert [len(list((synth_root / folder).glob("*.jpg"))) for folder in FOLDERS] == [part_1, SMALL_COUNT - part_1]
    with Image.open(next(iter(files.values()))) as image:
        assert image.format == "JPEG" and image.mode == "RGB" and image.size == SMALL_SIZE


def test_same_seed_same_bytes_whatever_the_workers(synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("skinbench.data._workers.PARALLEL_MIN", 0)  # the fixture was made in-process
    again = generate(tmp_path / "again", count=SMALL_COUNT, size=SMALL_SIZE, seed=0, workers=2, progress=False)
    assert _digests(again) == _digests(synth_root)
    other = generate(tmp_path / "other", count=SMALL_COUNT, size=SMALL_SIZE, seed=1, workers=1, progress=False)
    first, second = _digests(synth_root), _digests(other)
    assert set(second) == set(first)  # the same file names: image ids and folders follow the count
    assert [name for name in first if first[name] == second[name]] == []  # another seed changes every file


def test_refuses_a_non_empty_folder(synth_root: Path) -> None:
    with pytest.raises(DataError, match="already exists and is not empty"):
        generate(synth_root, count=10, size=SMALL_SIZE, progress=False)


def test_metadata_follows_the_real_statistics() -> None:
    table = synthetic_metadata(10015, seed=0)
    assert table["dx"].value_counts().to_dict() == {c: s["count"] for c, s in load_stats()["classes"].items()}
    assert table["age"].isna().sum() == 57
    per_lesion = table.groupby("lesion_id").agg(n=("image_id", "size"), dx=("dx", "nunique"), age=("age", "nunique"),
                                                sex=("sex", "nunique"), site=("localization", "nunique"))
    assert per_lesion["n"].between(1, 6).all() and (per_lesion[["dx", "sex", "site"]] == 1).all().all()
    assert 7000 < len(per_lesion) < 8000  # the real data has 7,470 lesions
    sites = set().union(*(s["localization"] for s in load_stats()["classes"].values()), {"unknown"})
    assert set(table["localization"]) == sites and len(sites) == 15  # the real data's 15 values, "unknown" included
    means = table.groupby("dx")["age"].mean()
    assert means["nv"] < 50 < means["akiec"] and means["bcc"] > 60  # real means: nv 46.5, akiec 66.5, bcc 66.8
    assert 40 < (table["sex"] == "unknown").sum() < 75  # real: 57


def test_small_counts_keep_every_class() -> None:
    counts = class_counts(40)
    assert sum(counts.values()) == 40 and min(counts.values()) >= 2
    assert len(synthetic_metadata(3, seed=0)) == 3  # fewer images than classes still works


def test_images_of_one_lesion_are_near_duplicates(synth_root: Path) -> None:
    frame = load_dataset(synth_root).frame
    pixels = {i: np.asarray(Image.open(p), dtype=np.float32) for i, p in zip(frame["image_id"], frame["path"])}
    within, between = [], []
    groups = [g["image_id"].tolist() for _, g in frame.groupby("lesion_id") if len(g) > 1]
    for ids in groups:
        within.append(np.abs(pixels[ids[0]] - pixels[ids[1]]).mean())
    for first, second in zip(groups, groups[1:]):
        between.append(np.abs(pixels[first[0]] - pixels[second[0]]).mean())
    assert len(within) > 20
    assert np.median(within) < 0.6 * np.median(between)


def _pixel_features(path: str) -> np.ndarray:
    """8x6 thumbnail plus per-channel 5/25/50th percentiles: what a tiny classifier can use."""
    with Image.open(path) as image:
        thumbnail = np.asarray(image.resize((8, 6), Image.Resampling.BOX), dtype=np.float32).ravel()
        quantiles = np.percentile(np.asarray(image, dtype=np.float32).reshape(-1, 3), [5, 25, 50], axis=0).ravel()
    return np.concatenate([thumbnail, quantiles]) / 255


def _score(features: np.ndarray, labels: np.ndarray, groups: pd.Series, class_weight: str | None = None) -> tuple[float, float, float]:
    """(accuracy, balanced accuracy, always-nv accuracy) of logistic regression on a lesion-grouped 30% hold-out."""
    train, test = next(GroupShuffleSplit(1, test_size=0.3, random_state=0).split(features, labels, groups))
    with threadpool_limits(1):  # BLAS threads only fight each other on a small shared machine
        model = LogisticRegression(max_iter=3000, class_weight=class_weight).fit(features[train], labels[train])
    predicted = model.predict(features[test])
    return accuracy_score(labels[test], predicted), balanced_accuracy_score(labels[test], predicted), float((labels[test] == NV).mean())


def test_classes_carry_signal_in_the_pixels(tmp_path: Path) -> None:
    root = generate(tmp_path / "signal", count=1000, size=(48, 36), seed=0, workers=1, progress=False)
    frame = load_dataset(root).frame
    accuracy, balanced, always_nv = _score(np.stack([_pixel_features(p) for p in frame["path"]]),
                                           frame["label"].to_numpy(), frame["lesion_id"])
    assert accuracy > always_nv + 0.05
    assert balanced > 0.3  # always-nv: 1/7
    assert accuracy < 0.97  # and not trivially separable


def test_metadata_carries_signal() -> None:
    """As on the real CSV (accuracy 0.69 vs 0.66 always-nv; balanced 0.32 with class weights)."""
    table = synthetic_metadata(10015, seed=1)
    table = table[table["age"].notna()].reset_index(drop=True)
    labels = table["dx"].map(CLASSES.index).to_numpy()
    features = MetadataEncoder().fit(table).transform(table)
    accuracy, _, always_nv = _score(features, labels, table["lesion_id"])
    assert accuracy > always_nv + 0.02
    _, balanced, _ = _score(features, labels, table["lesion_id"], class_weight="balanced")
    assert balanced > 0.3  # always-nv: 1/7


def test_ensure_synthetic_generates_once(cache_root: Path) -> None:
    folder = ensure_synthetic(20, (32, 24), 3, workers=1, progress=False)
    assert folder.parent == cache_root / "synthetic"
    before = (folder / METADATA_CSV).stat().st_mtime_ns
    assert ensure_synthetic(20, (32, 24), 3, progress=False) == folder
    assert (folder / METADATA_CSV).stat().st_mtime_ns == before
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    (folder / PARAMETERS_FILE).unlink()  # a set generated before the parameters were recorded gets them
    ensure_synthetic(20, (32, 24), 3, progress=False)
    assert json.loads((folder / PARAMETERS_FILE).read_text())["count"] == 20
    assert (folder / METADATA_CSV).stat().st_mtime_ns == before


@pytest.mark.skipif(not REAL_CSV.is_file(), reason="the real HAM10000_metadata.csv (../shared/data) is not here")
def test_stored_statistics_are_those_of_the_real_csv() -> None:
    assert json.loads(json.dumps(compute_stats(REAL_CSV))) == load_stats()


def _darkness(path: Path) -> np.ndarray:
    return 255.0 - np.asarray(Image.open(path).convert("L"), dtype=np.float64)


def test_lesion_masks_follow_their_photographs(synth_root: Path) -> None:
    meta = pd.read_csv(synth_root / METADATA_CSV)
    files = {p.stem: p for p in synth_root.rglob("*.jpg")}
    masks = lesion_masks(synth_root, [*meta["image_id"], "ISIC_9999999"])
    assert set(masks) == set(meta["image_id"])  # an id the set does not hold is left out
    assert all(m.shape == (SMALL_SIZE[1], SMALL_SIZE[0]) and m.dtype == np.float32 for m in masks.values())

    def fit(image_id: str, mask: np.ndarray) -> float:  # how well a mask traces the image's dark lesion
        return float(np.corrcoef(_darkness(files[image_id]).ravel(), mask.ravel())[0, 1])

    assert np.median([fit(i, masks[i]) for i in meta["image_id"]]) > 0.8
    # Each photograph of a lesion is tilted, shifted and zoomed its own way, and its mask with it:
    # the image's own mask fits it better than the masks of the other photographs of its lesion.
    siblings = [(a, b) for _, g in meta.groupby("lesion_id") for a in g["image_id"] for b in g["image_id"] if a != b]
    assert len(siblings) >= 20
    assert np.mean([fit(a, masks[a]) > fit(a, masks[b]) for a, b in siblings]) >= 0.95


def test_masks_need_the_sets_parameters(synth_root: Path, tmp_path: Path) -> None:
    parameters = json.loads((synth_root / PARAMETERS_FILE).read_text())
    assert parameters == {"count": SMALL_COUNT, "size": list(SMALL_SIZE), "seed": 0, "generator_version": GENERATOR_VERSION}
    with pytest.raises(DataError, match="not a synthetic set with known lesion masks"):
        lesion_masks(tmp_path, ["ISIC_0024306"])
    (tmp_path / PARAMETERS_FILE).write_text(json.dumps({**parameters, "generator_version": GENERATOR_VERSION - 1}))
    with pytest.raises(DataError, match="would not match the images"):
        lesion_masks(tmp_path, ["ISIC_0024306"])

"""Offline augmentation: counts per class, originals kept, determinism, stored and reused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skinbench.data.augment import augment_offline, copies_per_class, default_target_total, random_transform
from skinbench.data.cache import build_cache
from skinbench.data.ham10000 import load_dataset


@pytest.fixture
def cache(synth_root: Path):
    return build_cache(load_dataset(synth_root), 24, progress=False)


def test_water_filling_grows_the_small_classes_towards_one_level() -> None:
    labels = np.repeat(np.arange(7), [294, 463, 989, 103, 1002, 6034, 128])  # a 90% HAM10000 training split
    target = default_target_total(len(labels))
    assert target == 16213
    copies = copies_per_class(labels, target)
    assert copies.sum() == target - len(labels)
    grown = np.bincount(labels) + copies
    assert copies[5] == 0  # nv keeps its originals only
    small = np.delete(grown, 5)
    # The other six (2,979 images) share the 7,200 copies into one level: 10,179 / 6 = 1,696.5.
    assert sorted(small.tolist()) == [1696] * 3 + [1697] * 3
    assert copies_per_class(labels, len(labels) - 5).sum() == 0  # nothing to add


def test_very_large_targets_level_every_class() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 70])
    grown = np.bincount(labels, minlength=7) + copies_per_class(labels, 600)
    assert grown[:3].tolist() == [200, 200, 200] and grown[3:].sum() == 0  # absent classes stay absent


def test_augmented_set_counts_originals_and_determinism(synth_root: Path, cache) -> None:
    frame = load_dataset(synth_root).frame
    train = frame.iloc[: int(0.9 * len(frame))]
    rows, labels = cache.rows(train["image_id"]), train["label"].to_numpy()
    target = default_target_total(len(train))
    assert target == round(len(train) * 18015 / 10015)
    augmented = augment_offline(cache, rows, labels, target, seed=0, progress=False)
    assert len(augmented) == target and augmented.images.shape == (target, 24, 24, 3)
    assert augmented.n_original == len(rows)
    np.testing.assert_array_equal(augmented.images[: len(rows)], cache.images[rows])  # originals first, unchanged
    np.testing.assert_array_equal(augmented.labels[: len(rows)], labels)
    label_of_row = dict(zip(rows.tolist(), labels.tolist()))
    assert augmented.labels.tolist() == [label_of_row[row] for row in augmented.source_rows.tolist()]
    np.testing.assert_array_equal(np.bincount(augmented.labels, minlength=7) - np.bincount(labels, minlength=7),
                                  copies_per_class(labels, target))
    copies = augmented.images[len(rows):]
    sources = cache.images[augmented.source_rows[len(rows):]]
    assert (copies != sources).any(axis=(1, 2, 3)).mean() > 0.95  # copies are transformed

    same = augment_offline(cache, rows, labels, target, seed=0, progress=False)
    assert same.path == augmented.path
    other = augment_offline(cache, rows, labels, target, seed=1, progress=False)
    assert other.path != augmented.path and not np.array_equal(other.images[len(rows):], copies)
    (augmented.path / "info.json").unlink()  # force a rebuild: same seed, same pixels
    rebuilt = augment_offline(cache, rows, labels, target, seed=0, progress=False)
    np.testing.assert_array_equal(rebuilt.images, same.images)
    np.testing.assert_array_equal(rebuilt.source_rows, same.source_rows)


def test_two_workers_give_the_same_copies(synth_root: Path, cache, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = load_dataset(synth_root).frame
    rows, labels = cache.rows(frame["image_id"]), frame["label"].to_numpy()
    inline = augment_offline(cache, rows, labels, 600, seed=2, workers=1, progress=False)
    expected = np.array(inline.images)
    for file in inline.path.iterdir():
        file.unlink()
    inline.path.rmdir()
    monkeypatch.setattr("skinbench.data._workers.PARALLEL_MIN", 0)
    parallel = augment_offline(cache, rows, labels, 600, seed=2, workers=2, progress=False)
    np.testing.assert_array_equal(parallel.images, expected)


def test_random_transform_keeps_shape_and_fills_from_the_edges() -> None:
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[:, :16] = (255, 0, 0)
    image[:, 16:] = (0, 0, 255)
    out = random_transform(image, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out[..., 1] == 0).all()  # nearest fill and bilinear mixing never invent green
    assert not np.array_equal(out, image)

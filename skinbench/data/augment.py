"""Offline augmentation for the ``augmented`` recipe, stored beside the image cache.

The training split grows to ``target_total`` images: the originals, then augmented copies.
Each copy is one random transform of Keras's ``ImageDataGenerator`` as Datta et al. used it
(METHOD.md): rotation up to 180 degrees, width and height shift 0.1, zoom 0.1 (each axis
drawn on its own, as Keras does), horizontal and vertical flips, nearest fill, bilinear
interpolation. The transform is composed as in ``keras.preprocessing.image.
apply_affine_transform`` and applied with ``scipy.ndimage.affine_transform`` (the same
call Keras makes), which keeps Keras, and so TensorFlow, out of the worker processes.

Class balance rule: copies go to the smallest classes first, filling them up towards one
common level (water-filling), the way Datta et al. grew every class towards the same size.
With the default target (the paper's 18,015 images scaled to the split: 16,213 for a 90%
training split of HAM10000), every class but ``nv`` grows to about 1,700 images and ``nv``
keeps its originals only. When the target is large
enough to level every class, all classes then grow together. The originals of a class are
used in turn (a seeded permutation, cycled), so each is copied about equally often.

Everything follows from ``seed``: copy ``j`` draws its transform from
``default_rng([seed, 1, j])``, so the number of worker processes does not change a pixel.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from skinbench.classes import NUM_CLASSES
from skinbench.data._workers import DEFAULT_WORKERS, build_atomically, run_chunks, split_even
from skinbench.data.cache import ImageCache
from skinbench.catalogue import HAM10000_IMAGES, PAPER_AUGMENTED_IMAGES
from skinbench.errors import DataError
from skinbench.io import allocate_memmap, read_json, write_json

AUGMENT_VERSION = 1
ROTATION = 180.0
SHIFT = 0.1
ZOOM = 0.1
CHUNK = 256


@dataclass
class AugmentedSet:
    """Originals then augmented copies: ``images[k]`` came from cache row ``source_rows[k]``."""

    path: Path
    images: np.ndarray
    source_rows: np.ndarray
    labels: np.ndarray
    n_original: int

    def __len__(self) -> int:
        return len(self.labels)


def default_target_total(n_train: int) -> int:
    """The training split grown by the paper's factor (10,015 -> 18,015 images).

    For the full HAM10000 this is the paper's 18,015 scaled to the split (a 90% split of
    9,013 images grows to 16,213); smaller data sets grow by the same factor.
    """
    return round(n_train * PAPER_AUGMENTED_IMAGES / HAM10000_IMAGES)


def per_class_target_total(labels: np.ndarray, per_class: int, num_classes: int = NUM_CLASSES) -> int:
    """The total that grows every class present to ``per_class`` images (a larger class keeps its own):
    what water-filling (``copies_per_class``) then levels the classes to. Datta et al.'s rule (about
    8,000 per class, ``catalogue.AUTHOR_AUGMENTED_PER_CLASS``)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    return int(np.where(counts > 0, np.maximum(counts, per_class), 0).sum())


def copies_per_class(labels: np.ndarray, target_total: int, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """How many augmented copies each class gets (water-filling from the smallest class up)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    extra = target_total - len(labels)
    present = counts > 0
    if extra <= 0 or not present.any():
        return np.zeros(num_classes, dtype=np.int64)
    levels = np.sort(counts[present])
    for filled in range(1, len(levels) + 1):
        level = (extra + levels[:filled].sum()) / filled
        if filled == len(levels) or level <= levels[filled]:
            break
    exact = np.where(present, np.maximum(level - counts, 0), 0)
    copies = np.floor(exact).astype(np.int64)
    copies[np.argsort(-(exact - copies), kind="stable")[: extra - copies.sum()]] += 1
    return copies


def random_transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One ImageDataGenerator-style random transform of a uint8 ``(H, W, 3)`` image."""
    height, width = image.shape[:2]
    theta = np.deg2rad(rng.uniform(-ROTATION, ROTATION))
    tx = rng.uniform(-SHIFT, SHIFT) * height
    ty = rng.uniform(-SHIFT, SHIFT) * width
    zx, zy = rng.uniform(1 - ZOOM, 1 + ZOOM, 2)
    flip_horizontal, flip_vertical = rng.random(2) < 0.5
    rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    centre = np.array([height / 2 - 0.5, width / 2 - 0.5])
    matrix = rotation @ shift @ zoom
    offset = centre - matrix[:2, :2] @ centre + matrix[:2, 2]
    # Rows and columns move; the channel axis maps to itself.
    out = ndimage.affine_transform(
        image,
        np.block([[matrix[:2, :2], np.zeros((2, 1))], [np.zeros((1, 2)), np.ones((1, 1))]]),
        offset=(*offset, 0.0),
        order=1,
        mode="nearest",
    )
    if flip_horizontal:
        out = out[:, ::-1]
    if flip_vertical:
        out = out[::-1]
    return out


def augment_offline(
    cache: ImageCache,
    rows: np.ndarray,
    labels: np.ndarray,
    target_total: int | None = None,
    seed: int = 0,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
) -> AugmentedSet:
    """The augmented training set for cache ``rows`` with ``labels``, built once and stored.

    ``target_total`` defaults to ``default_target_total(len(rows))``.
    Stored in ``<cache>/augmented/<key>/`` (key: rows, labels, target, seed, version).
    """
    rows = np.asarray(rows, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(rows) != len(labels) or len(rows) == 0:
        raise DataError(f"augment_offline: {len(rows)} rows and {len(labels)} labels; give one label per training image")
    if target_total is None:
        target_total = default_target_total(len(rows))
    digest = hashlib.sha256(rows.tobytes() + labels.tobytes() + f"|{target_total}|{seed}|v{AUGMENT_VERSION}".encode())
    folder = cache.path / "augmented" / digest.hexdigest()[:16]
    if not (folder / "info.json").exists():
        _build(folder, cache, rows, labels, target_total, seed, workers, progress)
    info = read_json(folder / "info.json")
    return AugmentedSet(
        path=folder,
        images=np.load(folder / "images.npy", mmap_mode="r"),
        source_rows=np.load(folder / "source_rows.npy"),
        labels=np.load(folder / "labels.npy"),
        n_original=info["n_original"],
    )


def _sources(labels: np.ndarray, copies: np.ndarray, seed: int) -> np.ndarray:
    """Sample index each copy is made from, class by class, cycling a seeded permutation."""
    rng = np.random.default_rng([seed, 0])
    parts = []
    for label, n_copies in enumerate(copies):
        if n_copies:
            members = rng.permutation(np.flatnonzero(labels == label))
            parts.append(members[np.arange(n_copies) % len(members)])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _augment_chunk(cache_path: str, out_path: str, start: int, copy_numbers: range, source_rows: np.ndarray, seed: int) -> int:
    """Write copies ``copy_numbers`` into ``out`` rows ``start...``."""
    source = np.load(cache_path, mmap_mode="r")
    out = np.load(out_path, mmap_mode="r+")
    for offset, (number, row) in enumerate(zip(copy_numbers, source_rows)):
        out[start + offset] = random_transform(np.asarray(source[row]), np.random.default_rng([seed, 1, number]))
    out.flush()
    return len(copy_numbers)


def _build(folder: Path, cache: ImageCache, rows: np.ndarray, labels: np.ndarray, target_total: int,
           seed: int, workers: int, progress: bool) -> None:
    sources = _sources(labels, copies_per_class(labels, target_total), seed)
    source_rows = np.concatenate([rows, rows[sources]])

    def fill(tmp: Path) -> None:
        out_path = tmp / "images.npy"
        out = allocate_memmap(out_path, (len(source_rows), *cache.images.shape[1:]), np.uint8, "the offline-augmented training set")
        for block in np.array_split(np.arange(len(rows)), math.ceil(len(rows) / 1024)):
            out[block] = cache.images[rows[block]]
        out.flush()
        ranges = split_even(len(sources), math.ceil(len(sources) / CHUNK)) if len(sources) else []
        run_chunks(
            _augment_chunk,
            [(str(cache.path / "images.npy"), str(out_path), len(rows) + r.start, r, rows[sources[r.start:r.stop]], seed)
             for r in ranges],
            [len(r) for r in ranges],
            workers=workers,
            progress=progress,
            description="augmenting",
        )
        np.save(tmp / "source_rows.npy", source_rows)
        np.save(tmp / "labels.npy", np.concatenate([labels, labels[sources]]))
        write_json(tmp / "info.json", {"n_original": len(rows), "target_total": target_total, "seed": seed,
                                       "copies": int(len(sources)), "version": AUGMENT_VERSION})

    build_atomically(folder, fill, "info.json")

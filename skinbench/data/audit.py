"""Exact and near-duplicate images within and across datasets (``skinbench data audit``).

Each image gets the SHA-256 of its file (an exact duplicate has the same bytes) and a 64-bit
perceptual hash of its pixels (``imagehash.phash``: the signs of the lowest 8x8 frequencies of a
32x32 greyscale DCT), which survives resizing, recompression and small colour changes. Two images
of different bytes are near-duplicates when their perceptual hashes differ in at most
``NEAR_DISTANCE`` of the 64 bits. Every pair is compared (vectorised, a block at a time).

Hashing decodes every image, which for a training part of thousands of images takes about a
minute, and ``skinbench evaluate`` meets the same training part on every call. So the hashes are
kept in ``$SKINBENCH_CACHE/image-hashes.csv``, keyed by the file's resolved path, size and
modification time: a file changed in place is hashed again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Iterable

import imagehash
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from skinbench.data.ham10000 import IMAGE_SUFFIXES
from skinbench.io import exclusive, write_csv
from skinbench.paths import cache_root

#: Near-duplicates: perceptual hashes at most this many bits apart (of 64).
NEAR_DISTANCE = 4
EXACT, NEAR = "exact", "near"
#: The pairs file's columns.
PAIR_COLUMNS = ["kind", "distance", "dataset_a", "image_a", "path_a", "dataset_b", "image_b", "path_b"]
_BLOCK = 512  #: rows compared at once (512 x 40,000 hashes: 160 MB)
_KEY = ["path", "size", "mtime_ns"]  #: what identifies a file's content in the hash cache


def hash_cache() -> Path:
    """The file of known hashes (see the module doc)."""
    return cache_root() / "image-hashes.csv"


def _read_cache(cache: Path) -> dict[tuple[str, int, int], tuple[str, int]]:
    """The cache's hashes by file key; an unreadable cache is empty (it is rebuilt, nothing is lost)."""
    try:
        frame = pd.read_csv(cache, dtype={"path": str, "sha256": str, "phash": str})
        return {(row.path, int(row.size), int(row.mtime_ns)): (row.sha256, int(row.phash))
                for row in frame.itertuples(index=False)}
    except (OSError, ValueError, KeyError, AttributeError, pd.errors.ParserError):
        return {}


def _add_to_cache(cache: Path, new: dict[tuple[str, int, int], tuple[str, int]]) -> None:
    """Merge ``new`` into the cache under a lock, so that concurrent commands keep each other's hashes."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(cache.with_name(cache.name + ".lock")):
        known = _read_cache(cache) | new
        write_csv(cache, pd.DataFrame([(*key, sha, str(phash)) for key, (sha, phash) in known.items()],
                                      columns=[*_KEY, "sha256", "phash"]), index=False)


def image_files(folder: Path) -> list[Path]:
    """The image files below ``folder``, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _hashes(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and its perceptual hash as an unsigned 64-bit integer."""
    data = path.read_bytes()
    with Image.open(path) as image:
        bits = imagehash.phash(image.convert("RGB")).hash.flatten()
    return hashlib.sha256(data).hexdigest(), int(np.packbits(bits).view(">u8")[0])


def hash_images(
    paths: Iterable[Path], dataset: str, warn: Callable[[str], None] = lambda message: None, cache: Path | None = None
) -> pd.DataFrame:
    """``dataset, image, path, sha256, phash`` (phash as an unsigned 64-bit integer) per readable image;
    an unreadable one is named through ``warn`` and left out. With ``cache`` (``hash_cache()``), files
    hashed before are not read again, and the new hashes are added to it."""
    known = _read_cache(cache) if cache is not None else {}
    rows, new = [], {}
    for path in paths:
        path = Path(path)
        try:
            stat = path.stat()
            key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            if key not in known:
                new[key] = known[key] = _hashes(path)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            warn(f"{path}: cannot be read ({type(exc).__name__}: {exc}); left out of the audit")
            continue
        sha256, phash = known[key]
        rows.append({"dataset": dataset, "image": path.stem, "path": str(path), "sha256": sha256, "phash": phash})
    if cache is not None and new:
        _add_to_cache(cache, new)
    return pd.DataFrame(rows, columns=["dataset", "image", "path", "sha256", "phash"])


def find_pairs(a: pd.DataFrame, b: pd.DataFrame | None = None, *, distance: int = NEAR_DISTANCE) -> pd.DataFrame:
    """Pairs of duplicates (PAIR_COLUMNS): between ``a`` and ``b``, or within ``a`` when ``b`` is None.

    ``exact``: the same SHA-256 (distance 0); ``near``: other bytes, perceptual hashes at most
    ``distance`` bits apart."""
    within = b is None
    b = a if within else b
    hashes_b = b["phash"].to_numpy(dtype=np.uint64)
    rows = []
    for start in range(0, len(a), _BLOCK):
        block = a["phash"].to_numpy(dtype=np.uint64)[start:start + _BLOCK]
        distances = np.bitwise_count(block[:, None] ^ hashes_b[None, :])
        for i, j in zip(*np.nonzero(distances <= distance)):
            i = start + int(i)
            if within and j <= i:
                continue
            row_a, row_b = a.iloc[i], b.iloc[int(j)]
            kind = EXACT if row_a["sha256"] == row_b["sha256"] else NEAR
            rows.append({"kind": kind, "distance": int(distances[i - start, j]),
                         "dataset_a": row_a["dataset"], "image_a": row_a["image"], "path_a": row_a["path"],
                         "dataset_b": row_b["dataset"], "image_b": row_b["image"], "path_b": row_b["path"]})
    # Same bytes always hash alike, so every exact pair is among the perceptual matches.
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def audit(folders: list[Path], warn: Callable[[str], None] = lambda message: None) -> pd.DataFrame:
    """Every duplicate pair within and across the image folders (each folder a dataset named by its path)."""
    hashes = pd.concat([hash_images(image_files(folder), str(folder), warn, hash_cache()) for folder in folders],
                       ignore_index=True)
    return find_pairs(hashes)


def summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs counted by dataset pair and kind."""
    if pairs.empty:
        return pd.DataFrame(columns=["dataset_a", "dataset_b", "kind", "pairs"])
    return pairs.groupby(["dataset_a", "dataset_b", "kind"]).size().rename("pairs").reset_index()

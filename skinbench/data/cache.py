"""Decode and resize every image once per (dataset, size, rule) into a memory-mapped uint8 array.

A cache lives in ``cache_root()/images/<key>/`` with ``key`` a hash of the dataset
fingerprint, the size, the resize rule and the cache version, so a changed CSV or image file
gives a new key and a rebuild; the stale folder of the same source is then removed. Files:

* ``images.npy``: uint8 ``(N, size, size, 3)`` RGB, one row per row of ``dataset.frame``
  (rows of unreadable images stay black);
* ``index.csv``: ``image_id`` per row;
* ``info.json``: fingerprint, size, rule, resampling, source folder and the unreadable images
  with their reasons.

The folder is built under a temporary name and renamed into place, on up to two worker
processes behind a progress bar.

Resize rules: ``crop`` (the paper's: centre crop to the target aspect ratio, then resize)
and ``resize`` (squash the whole image). Both resample bilinearly with Pillow's
antialiasing, from a full decode.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from skinbench.console import err_console
from skinbench.data._workers import DEFAULT_WORKERS, build_atomically, run_chunks, split_even
from skinbench.data.ham10000 import EXAMPLES, Dataset
from skinbench.errors import DataError
from skinbench.io import allocate_memmap, read_json, write_csv, write_json
from skinbench.paths import cache_root

CACHE_VERSION = 1
RULES = ("crop", "resize")
RESAMPLE = Image.Resampling.BILINEAR
CHUNK = 256


@dataclass
class ImageCache:
    """A built cache. ``images[rows(ids)]`` gives those images as uint8 RGB."""

    path: Path
    images: np.ndarray
    image_ids: np.ndarray
    failed: dict[str, str]
    size: int
    rule: str

    def __post_init__(self) -> None:
        self._index = pd.Index(self.image_ids)

    def rows(self, image_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of ``image_ids``; ``DataError`` for unknown or unreadable images."""
        image_ids = np.asarray(list(image_ids), dtype=object)
        rows = self._index.get_indexer(image_ids)
        unknown = image_ids[rows < 0]
        if len(unknown):
            raise DataError(f"images not in the cache {self.path}: {', '.join(unknown[:EXAMPLES])}")
        broken = [i for i in image_ids if i in self.failed]
        if broken:
            raise DataError(f"images could not be read and were skipped: {', '.join(broken[:EXAMPLES])}; "
                            "drop them first with ImageCache.drop_failed(frame)")
        return rows.astype(np.int64)

    def drop_failed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` without the rows whose image could not be read."""
        return frame[~frame["image_id"].isin(self.failed)].reset_index(drop=True)


#: Pillow's modes of a 16-bit greyscale PNG ("I" in older Pillow): values 0..65535.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def load_image(path: str | Path, size: int, rule: str = "crop") -> np.ndarray:
    """Decode one image fully and resize it to ``(size, size, 3)`` uint8 RGB by ``rule``.

    A 16-bit greyscale PNG is scaled to 8 bits (0..65535 to 0..255; Pillow's own conversion
    would clip it at 255). An image of more pixels than Pillow decodes safely
    (``PIL.Image.MAX_IMAGE_PIXELS``, a guard against decompression bombs) is refused with a
    ``DataError`` before it is decoded; callers name it and leave it out.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # _check_pixels refuses it
            with Image.open(path) as image:
                _check_pixels(image)
                image = _to_rgb(image)
    except Image.DecompressionBombError as exc:  # over twice the limit: Pillow refuses it while reading the header
        raise DataError(f"{str(exc).split(' exceeds')[0]}: {_TOO_LARGE}") from None
    return np.asarray(fit(image, size, rule))


_TOO_LARGE = "more pixels than Pillow decodes safely (PIL.Image.MAX_IMAGE_PIXELS): a decompression bomb, or an image far larger than a photograph"


def _check_pixels(image: Image.Image) -> None:
    """DataError when ``image`` has more pixels than Pillow's decompression-bomb limit (Pillow only warns below twice it)."""
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit is not None and width * height > limit:
        raise DataError(f"{width:,} x {height:,} pixels, {_TOO_LARGE}")


def _to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB; a 16-bit greyscale image is scaled, not clipped."""
    if image.mode in SIXTEEN_BIT_MODES:
        grey = np.asarray(image).astype(np.float64) / 257.0  # 65535 / 257 = 255
        image = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))  # mode L
    return image.convert("RGB")


def fit(image: Image.Image, size: int, rule: str = "crop") -> Image.Image:
    """``image`` framed as ``size`` x ``size`` by ``rule`` (any mode: a mask is framed as its photograph is)."""
    if rule == "crop":
        return ImageOps.fit(image, (size, size), method=RESAMPLE)
    return image.resize((size, size), RESAMPLE)


def cache_key(fingerprint: str, size: int, rule: str) -> str:
    """The cache folder name for a dataset fingerprint, size and rule."""
    return hashlib.sha256(f"{fingerprint}|{size}|{rule}|v{CACHE_VERSION}".encode()).hexdigest()[:16]


def build_cache(
    dataset: Dataset,
    size: int,
    rule: str = "crop",
    *,
    strict: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
) -> ImageCache:
    """The cache of ``dataset`` at ``size`` x ``size`` by ``rule``: reused when present, else built.

    Unreadable or truncated images are listed in ``ImageCache.failed`` and skipped, with a
    warning naming them; with ``strict`` they raise ``DataError`` instead.
    """
    if rule not in RULES:
        raise DataError(f"unknown resize rule '{rule}'; use one of: {', '.join(RULES)}")
    if size < 1:
        raise DataError(f"image size {size}: use a positive number of pixels")
    key = cache_key(dataset.fingerprint, size, rule)
    folder = cache_root() / "images" / key
    cache = _open(folder, dataset)
    if cache is None:
        _build(folder, dataset, size, rule, workers, progress)
        cache = _open(folder, dataset)
        _prune(folder, dataset.root, size, rule)
    if cache.failed and not strict:  # said on every use: a cache is shared by every copy of the same data
        err_console.print(
            f"[yellow]warning:[/] {len(cache.failed)} image(s) could not be read and are left out: "
            + ", ".join(f"{i} ({r})" for i, r in list(cache.failed.items())[:EXAMPLES]),
            highlight=False,
        )
    if cache.failed and strict:
        names = ", ".join(f"{i} ({r})" for i, r in list(cache.failed.items())[:EXAMPLES])
        raise DataError(f"{len(cache.failed)} image(s) in {dataset.root} cannot be read: {names}; "
                        "replace those files from the download, or run without --strict to leave them out")
    return cache


def find_unreadable(paths: Sequence[str], *, workers: int = DEFAULT_WORKERS, progress: bool = True) -> dict[str, str]:
    """Fully decode each image; return path -> reason for those that fail."""
    paths = list(paths)
    ranges = split_even(len(paths), math.ceil(len(paths) / CHUNK))
    results = run_chunks(_check_chunk, [(paths[r.start:r.stop],) for r in ranges], [len(r) for r in ranges],
                         workers=workers, progress=progress, description="reading images")
    return {path: reason for result in results for path, reason in result.items()}


def _check_chunk(paths: list[str]) -> dict[str, str]:
    failed = {}
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
        except Exception as exc:  # any decoder failure means the file is unusable
            failed[path] = _reason(exc)
    return failed


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _fill_chunk(array_path: str, start: int, paths: list[str], size: int, rule: str) -> dict[int, str]:
    """Decode ``paths`` into rows ``start...`` of the array file; return row -> reason for failures."""
    images = np.load(array_path, mmap_mode="r+")
    failed = {}
    for offset, path in enumerate(paths):
        try:
            images[start + offset] = load_image(path, size, rule)
        except Exception as exc:  # any decoder failure means the file is unusable
            failed[start + offset] = _reason(exc)
    images.flush()
    return failed


def _build(folder: Path, dataset: Dataset, size: int, rule: str, workers: int, progress: bool) -> None:
    frame = dataset.frame
    if frame.empty:
        raise DataError(f"{dataset.root} has no usable images to cache")

    def fill(tmp: Path) -> None:
        array_path = tmp / "images.npy"
        allocate_memmap(array_path, (len(frame), size, size, 3), np.uint8, f"the {size}px image cache of {dataset.root}").flush()
        paths = frame["path"].tolist()
        ranges = split_even(len(paths), math.ceil(len(paths) / CHUNK))
        results = run_chunks(
            _fill_chunk,
            [(str(array_path), r.start, paths[r.start:r.stop], size, rule) for r in ranges],
            [len(r) for r in ranges],
            workers=workers,
            progress=progress,
            description=f"caching {size}px images",
        )
        failed = {frame["image_id"].iat[row]: reason for result in results for row, reason in result.items()}
        write_csv(tmp / "index.csv", frame[["image_id"]])
        write_json(tmp / "info.json", {
            "fingerprint": dataset.fingerprint, "size": size, "rule": rule, "resample": RESAMPLE.name.lower(),
            "root": str(dataset.root), "n_images": len(frame), "failed": failed, "version": CACHE_VERSION,
        })

    build_atomically(folder, fill, "info.json")


def _open(folder: Path, dataset: Dataset) -> ImageCache | None:
    """The cache in ``folder`` if it is complete and matches the dataset's rows, else None."""
    try:
        info = read_json(folder / "info.json")
        image_ids = pd.read_csv(folder / "index.csv", dtype=str)["image_id"].to_numpy(dtype=object)
        images = np.load(folder / "images.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError):
        return None
    if len(image_ids) != len(images) or not np.array_equal(image_ids, dataset.frame["image_id"].to_numpy(dtype=object)):
        return None
    return ImageCache(path=folder, images=images, image_ids=image_ids, failed=info["failed"],
                      size=info["size"], rule=info["rule"])


def _prune(keep: Path, root: Path, size: int, rule: str) -> None:
    """Remove caches of the same source folder, size and rule made from older versions of the data."""
    for info_path in keep.parent.glob("*/info.json"):
        if info_path.parent == keep:
            continue
        try:
            info = read_json(info_path)
        except (OSError, ValueError):
            continue
        if info.get("root") == str(root) and info.get("size") == size and info.get("rule") == rule:
            shutil.rmtree(info_path.parent, ignore_errors=True)

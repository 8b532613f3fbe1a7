"""``skinbench predict``: class probabilities of a kept cell for images it never saw.

Each image is decoded and resized exactly as in training (inference.json's size and resize
rule); a metadata model takes age, sex and site from a CSV in the HAM10000 schema, encoded by
the encoder fitted on the cell's training part. The output is the ISIC 2018 Task 3 format
(``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC``) plus the predicted class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from skinbench.deploy.kept import check_metadata_given
from skinbench.deploy.model import KeptModel, load_images, metadata_features
from skinbench.errors import RunError
from skinbench.eval.predictions import predictions_frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def image_paths(images: list[Path], folder: Path | None) -> list[Path]:
    """The images named, plus every image below ``folder``; RunError when there are none."""
    paths = [Path(p) for p in images]
    if folder is not None:
        if not Path(folder).is_dir():
            raise RunError(f"--images {folder}: no such folder")
        paths += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise RunError("no image given: name image files, or pass --images FOLDER")
    return paths


def predict(
    kept: KeptModel,
    paths: list[Path],
    metadata: pd.DataFrame | None = None,
    *,
    batch_size: int = 32,
    warn: Callable[[str], None] = lambda message: None,
    advance: Callable[[int], None] = lambda n: None,
) -> pd.DataFrame:
    """ISIC-format probabilities and ``predicted`` (a class code) for the usable images, in order.

    Images that cannot be read, and (for a metadata model) images without a metadata row, are
    named through ``warn`` and left out; RunError when none is usable.
    """
    check_metadata_given(kept.folder, kept.info, metadata)
    if metadata is not None and kept.needs_metadata:
        rows = metadata.drop_duplicates("image_id").set_index("image_id")
        without = [p for p in paths if p.stem not in rows.index]
        for path in without:
            warn(f"{path}: no row for {path.stem} in the metadata CSV; left out")
        paths = [p for p in paths if p.stem in rows.index]
    probabilities, ids = [], []
    for start in range(0, len(paths), batch_size):
        images, usable, failed = load_images(kept, paths[start:start + batch_size])
        for path, reason in failed.items():
            warn(f"{path}: cannot be read ({reason}); left out")
        advance(len(paths[start:start + batch_size]))
        if not usable:
            continue
        inputs = {"image": images}
        if kept.needs_metadata:
            inputs["metadata"] = metadata_features(kept, rows.loc[[p.stem for p in usable]].reset_index())
        probabilities.append(np.asarray(kept.model.predict_on_batch(inputs), dtype=np.float64))
        ids += [p.stem for p in usable]
    if not ids:
        raise RunError("no usable image: every one was unreadable or had no metadata row")
    return to_isic(ids, np.concatenate(probabilities))


def to_isic(ids: list[str], probabilities: np.ndarray) -> pd.DataFrame:
    """``image,MEL,...,VASC,predicted`` from probabilities in ``CLASSES`` order (predictions.csv's
    layout, with the predicted class where a cell's file has the true one)."""
    return predictions_frame(ids, probabilities.argmax(axis=1), probabilities).rename(columns={"label": "predicted"})

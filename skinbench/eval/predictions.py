"""predictions.csv: the ISIC 2018 Task 3 format plus the true label.

Columns: ``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC,label``; the probabilities are per image,
``label`` is the true class as an upper-case ISIC code. Everything downstream (metrics,
report, plots) is computed from this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from skinbench.classes import CLASSES, FROM_ISIC, ISIC_CODE, ISIC_COLUMNS
from skinbench.errors import RunError
from skinbench.io import write_csv

# Position of each ISIC column in skinbench's class order.
_ISIC_TO_INDEX = [CLASSES.index(FROM_ISIC[c]) for c in ISIC_COLUMNS]


def predictions_frame(image_ids: Sequence[str], y_true: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """Build the predictions table from labels (indices into CLASSES) and probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    frame = pd.DataFrame({"image": list(image_ids)})
    for column, index in zip(ISIC_COLUMNS, _ISIC_TO_INDEX):
        frame[column] = probs[:, index]
    frame["label"] = [ISIC_CODE[CLASSES[int(i)]] for i in y_true]
    return frame


def write_predictions(path: Path, image_ids: Sequence[str], y_true: np.ndarray, probs: np.ndarray) -> Path:
    """Write predictions.csv atomically."""
    return write_csv(Path(path), predictions_frame(image_ids, y_true, probs), float_format="%.6g")


def read_predictions(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read predictions.csv into (image ids, labels as CLASSES indices, probabilities in CLASSES order)."""
    path = Path(path)
    frame = pd.read_csv(path)
    missing = [c for c in ("image", *ISIC_COLUMNS, "label") if c not in frame.columns]
    if missing:
        raise RunError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = sorted(set(frame["label"]) - set(FROM_ISIC))
    if unknown:
        raise RunError(f"{path}: unknown label(s) {', '.join(map(str, unknown))}")
    probs = np.zeros((len(frame), len(CLASSES)))
    for column, index in zip(ISIC_COLUMNS, _ISIC_TO_INDEX):
        probs[:, index] = frame[column].to_numpy(dtype=np.float64)
    y_true = np.array([CLASSES.index(FROM_ISIC[c]) for c in frame["label"]], dtype=np.int64)
    return frame["image"].astype(str).tolist(), y_true, probs

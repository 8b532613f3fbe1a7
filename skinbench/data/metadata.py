"""Metadata features per METHOD.md: age z-scored, sex and site one-hot, fitted on the training split.

Features, in order: ``age`` (z-score with the training split's mean and population sd), then
for ``sex`` and ``localization`` one slot per training value (``unknown`` always included)
plus one out-of-vocabulary slot for values the training split never had. On HAM10000 that
is 1 + (3 + 1) + (15 + 1) = 21 features. A missing age (only possible when a caller keeps
such rows) is encoded as the training mean, 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skinbench.data.ham10000 import UNKNOWN
from skinbench.records import EncoderRecord

CATEGORICAL = ("sex", "localization")
OUT_OF_VOCABULARY = "<other>"


class MetadataEncoder:
    """Fit on the training frame, then turn any frame into float32 ``(N, n_features)``."""

    def __init__(self) -> None:
        self.age_mean: float | None = None
        self.age_sd: float | None = None
        self.vocabularies: dict[str, list[str]] = {}

    def fit(self, train_frame: pd.DataFrame) -> MetadataEncoder:
        age = pd.to_numeric(train_frame["age"], errors="coerce")
        self.age_mean = float(age.mean()) if age.notna().any() else 0.0
        sd = float(age.std(ddof=0)) if age.notna().any() else 0.0
        self.age_sd = sd if sd > 0 else 1.0
        self.vocabularies = {
            column: sorted(set(train_frame[column].astype(str)) | {UNKNOWN}) for column in CATEGORICAL
        }
        return self

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def feature_names(self) -> list[str]:
        self._check_fitted()
        names = ["age"]
        for column, vocabulary in self.vocabularies.items():
            names += [f"{column}={value}" for value in vocabulary] + [f"{column}={OUT_OF_VOCABULARY}"]
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        age = pd.to_numeric(frame["age"], errors="coerce").to_numpy(dtype=np.float64)
        blocks = [np.nan_to_num((age - self.age_mean) / self.age_sd, nan=0.0)[:, None]]
        for column, vocabulary in self.vocabularies.items():
            codes = pd.Categorical(frame[column].astype(str), categories=vocabulary).codes
            codes = np.where(codes < 0, len(vocabulary), codes)  # unseen value -> out-of-vocabulary slot
            blocks.append(np.eye(len(vocabulary) + 1)[codes])
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def to_dict(self) -> EncoderRecord:
        """The fitted encoder as inference.json keeps it (records.EncoderRecord)."""
        self._check_fitted()
        return {"age_mean": self.age_mean, "age_sd": self.age_sd, "vocabularies": self.vocabularies}

    @classmethod
    def from_dict(cls, data: EncoderRecord) -> MetadataEncoder:
        encoder = cls()
        encoder.age_mean = float(data["age_mean"])
        encoder.age_sd = float(data["age_sd"])
        encoder.vocabularies = {k: list(v) for k, v in data["vocabularies"].items()}
        return encoder

    def _check_fitted(self) -> None:
        if self.age_mean is None:
            raise RuntimeError("MetadataEncoder.fit(train_frame) must be called first")

"""Metadata encoding: 21 features on HAM10000, fitted on the training split only, with an OOV slot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data_helpers import REAL_CSV
from skinbench.catalogue import HAM10000_METADATA_FEATURES
from skinbench.data.ham10000 import read_metadata_csv
from skinbench.data.metadata import MetadataEncoder
from skinbench.data.synthetic import synthetic_metadata


def test_features_of_a_training_split() -> None:
    frame = synthetic_metadata(10015, seed=0)
    frame = frame[frame["age"].notna()].reset_index(drop=True)
    train = frame.iloc[:7000]
    encoder = MetadataEncoder().fit(train)
    assert encoder.n_features == HAM10000_METADATA_FEATURES == 21  # age + (3 sexes + OOV) + (15 sites + OOV)
    features = encoder.transform(train)
    assert features.dtype == np.float32 and features.shape == (7000, 21)
    assert features[:, 0].mean() == pytest.approx(0, abs=1e-5) and features[:, 0].std() == pytest.approx(1, abs=1e-4)
    assert (features[:, 1:].sum(axis=1) == 2).all()  # one sex slot and one site slot per row
    names = encoder.feature_names
    row = train.iloc[0]
    assert features[0, names.index(f"sex={row['sex']}")] == 1
    assert features[0, names.index(f"localization={row['localization']}")] == 1


def test_unseen_values_go_to_the_out_of_vocabulary_slot() -> None:
    train = pd.DataFrame({"age": [30.0, 50.0], "sex": ["male", "female"], "localization": ["back", "face"]})
    encoder = MetadataEncoder().fit(train)
    assert encoder.feature_names == [
        "age", "sex=female", "sex=male", "sex=unknown", "sex=<other>",
        "localization=back", "localization=face", "localization=unknown", "localization=<other>",
    ]
    other = encoder.transform(pd.DataFrame({"age": [40.0], "sex": ["unknown"], "localization": ["acral"]}))
    assert other.tolist() == [[0, 0, 0, 1, 0, 0, 0, 0, 1]]


def test_round_trip_through_json() -> None:
    frame = synthetic_metadata(500, seed=2).dropna(subset=["age"])
    encoder = MetadataEncoder().fit(frame)
    again = MetadataEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    np.testing.assert_array_equal(again.transform(frame), encoder.transform(frame))


@pytest.mark.skipif(not REAL_CSV.is_file(), reason="the real HAM10000_metadata.csv (../shared/data) is not here")
def test_21_features_on_the_real_csv() -> None:
    real = read_metadata_csv(REAL_CSV)
    real = real[real["age"].notna()]
    assert MetadataEncoder().fit(real).n_features == HAM10000_METADATA_FEATURES == 21

"""Models shared across the model tests (graph building takes seconds on a CPU)."""

from __future__ import annotations

import keras
import pytest

from skinbench.models.build import build_model

#: HAM10000 metadata features (age, 4 sexes, 16 sites, out-of-vocabulary slot).
METADATA_FEATURES = 21


@pytest.fixture(scope="session")
def metadata_model() -> keras.Model:
    """MobileNetV3Small at 64 pixels (2x2 cut map) with paper soft attention and metadata.

    Shared: tests must not train or otherwise change it.
    """
    keras.utils.set_random_seed(0)
    return build_model("mobilenetv3small", image_size=64, metadata_features=METADATA_FEATURES, weights=None)

"""Models shared across the model tests (graph building takes seconds on a CPU)."""

from __future__ import annotations

import keras
import pytest

from skinbench.catalogue import HAM10000_METADATA_FEATURES
from skinbench.models.build import build_model


@pytest.fixture(scope="session")
def metadata_model() -> keras.Model:
    """MobileNetV3Small at 64 pixels (2x2 cut map) with paper soft attention and metadata.

    Shared: tests must not train or otherwise change it.
    """
    keras.utils.set_random_seed(0)
    return build_model("mobilenetv3small", image_size=64, metadata_features=HAM10000_METADATA_FEATURES, weights=None)

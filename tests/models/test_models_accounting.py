"""Parameters, depth, size and multiply-accumulates from layer shapes."""

from __future__ import annotations

import keras
import pytest

from skinbench.models.accounting import measure_backbone, summarize
from skinbench.models.attention import SoftAttention
from skinbench.models.backbones import get_backbone


def test_summarize_counts_a_small_model_by_hand() -> None:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 3*3*3*4 + 4 = 112 weights
    x = keras.layers.BatchNormalization()(x)  # 4 trainable + 4 + 4 moving statistics... x4 = 16
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2)(x)  # 256*2 + 2 = 514
    summary = summarize(keras.Model(inputs, outputs))
    assert summary["params"] == 642
    assert (summary["trainable_params"], summary["non_trainable_params"]) == (634, 8)
    assert summary["depth"] == 3
    assert summary["size_mb"] == pytest.approx(642 * 4 / 2**20)
    assert summary["macs"] == 8 * 8 * 108 + 512
    assert summary["flops"] == 2 * summary["macs"]


def test_soft_attention_convolution_is_counted() -> None:
    inputs = keras.Input((4, 5, 8))
    attended, _ = SoftAttention(variant="reference")(inputs)
    summary = summarize(keras.Model(inputs, attended))
    assert summary["macs"] == 4 * 5 * (8 * 3 * 3 * 16)  # one logit per position and head
    assert summary["params"] == 144 * 8 + 16 and summary["depth"] == 1


def test_measure_backbone_matches_published_mobilenetv3small() -> None:
    row = measure_backbone(get_backbone("mobilenetv3small"))
    assert (row["params"], row["depth"], row["cut_shape"]) == (2_554_968, 88, "7x7x576")
    # Howard et al. 2019 report 56M multiply-adds for MobileNetV3-Small 1.0 at 224.
    assert row["macs"] == pytest.approx(56e6, rel=0.03)

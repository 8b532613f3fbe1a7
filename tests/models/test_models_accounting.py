"""Parameters, depth, size and multiply-accumulates from layer shapes."""

from __future__ import annotations

import keras
import pytest

from skinbench.models.accounting import backbone_summary, measure_backbone, summarize
from skinbench.models.attention import SoftAttention
from skinbench.models.backbones import get_backbone
from skinbench.records import ModelSummary


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


def test_backbone_summary_is_the_bare_application_as_the_paper_counts_it() -> None:
    """model.json's backbone_* figures: the Keras application at its native size with its top."""
    small = backbone_summary("mobilenetv3small")
    assert small == {"backbone_params": 2_554_968, "backbone_depth": 88, "backbone_size_mb": pytest.approx(2_554_968 * 4 / 2**20)}
    large = backbone_summary("MobileNetV3Large")
    assert (large["backbone_params"], large["backbone_depth"]) == (5_507_432, 110)  # paper Table 3: 5.5M, depth 118
    small["backbone_params"] = 0  # a copy: the figures are computed once per process
    assert backbone_summary("mobilenetv3small")["backbone_params"] == 2_554_968
    keras.backend.clear_session(free_memory=True)


def test_model_json_holds_the_trained_model_and_its_bare_backbone() -> None:
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    record = ModelSummary(**summarize(model), **backbone_summary("mobilenetv3small"))
    assert (record.params, record.backbone_params) == (386, 2_554_968)


def test_the_trainer_records_the_bare_backbone_config_json_names(tmp_path) -> None:
    """train.trainer writes model.json's backbone_* for the backbone of the cell's config.json."""
    import dataclasses
    from pathlib import Path

    from skinbench.records import CellConfig
    from skinbench.train.trainer import _bare_backbone

    assert _bare_backbone(tmp_path) == {}  # no config.json: nothing to name the backbone
    fixture = Path(__file__).resolve().parents[1] / "report" / "fixtures" / "shard-a" / "densenet201-metadata-paper-s0"
    dataclasses.replace(CellConfig.read(fixture), backbone="mobilenetv3small").write(tmp_path)
    assert _bare_backbone(tmp_path) == backbone_summary("mobilenetv3small")

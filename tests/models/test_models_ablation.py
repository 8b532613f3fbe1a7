"""Paper Table 9: the MobileNetV3Large cuts against tf.keras 2's layer list, and the rows."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from skinbench.catalogue import ABLATION_CUTS, ABLATION_ROWS, HAM10000_METADATA_FEATURES, AblationRow
from skinbench.errors import ModelError
from skinbench.models.ablation import BACKBONE, CUTS, LOGITS, ROW_CUTS, get_row
from skinbench.models.backbones import locate
from skinbench.models.build import build_model
from skinbench.studies.do2022.published import published


def _build_row(row: AblationRow, **kwargs) -> keras.Model:
    """The row's model as the runner builds it (train.resolve.plan_for gives these settings)."""
    return build_model(
        BACKBONE, metadata_features=HAM10000_METADATA_FEATURES if row.metadata else 0,
        attention="paper" if row.attention else None, cut=row.cut_key, extra_dense=row.extra_dense, **kwargs,
    )


def _tf2_kind(layer) -> str:
    """What tf.keras 2's layer computes, in the words of METHOD.md's table."""
    kind = type(layer).__name__
    if kind == "TFOpLambda":
        return {"add": "+ 3", "multiply": "* 1/6"}[layer.symbol.rsplit(".", 1)[-1]]
    return {"Multiply": "hard-swish", "Dropout": "dropout", "Flatten": "flatten"}[kind]


def _keras3_kind(tensor) -> str:
    """The same for the operation producing a Keras 3 tensor (a layer or a bare op)."""
    op = tensor._keras_history[0]
    if isinstance(op, keras.layers.Activation):
        assert op.get_config()["activation"] in ("hard_swish", "hard_silu")
        return "hard-swish"
    if isinstance(op, keras.layers.Dropout):
        return "dropout"
    if isinstance(op, keras.layers.Flatten):
        return "flatten"
    return {"Add": "+ 3", "Multiply": "* 1/6"}[type(op).__name__]


def test_cuts_match_tf_keras2_layer_list() -> None:
    """Layer N-1 of tf.keras 2's 273-layer model and the chosen Keras 3 tensor have the same
    kind and shape, and the same values when both models share weights (the plain row's
    Layer[:272] is ``layers[-2]``, the Flatten of the 1000-way logits)."""
    tf_keras = pytest.importorskip("tf_keras")
    old = tf_keras.applications.MobileNetV3Large(input_shape=(224, 224, 3), include_top=True, weights=None)
    assert len(old.layers) == 273
    new = keras.applications.MobileNetV3Large(input_shape=(224, 224, 3), include_top=True, weights=None)
    new.set_weights(old.get_weights())
    cuts = list(ROW_CUTS.values())
    assert old.layers[LOGITS.n - 1] is old.layers[-2]
    old_layers = [old.layers[cut.n - 1] for cut in cuts]
    new_tensors = [locate(cut.point, new) for cut in cuts]
    for cut, layer, tensor in zip(cuts, old_layers, new_tensors):
        assert _tf2_kind(layer) == _keras3_kind(tensor), cut.key
        assert tuple(layer.output.shape[1:]) == tuple(tensor.shape[1:]), cut.key
        assert cut.one_by_one == (tuple(tensor.shape[1:3]) == (1, 1)), cut.key

    # Batch statistics keep activations of a randomly initialised network far from zero, so
    # the comparison can tell neighbouring tensors apart; dropout is switched off to compare.
    for model in (old, new):
        for layer in model.layers:
            if type(layer).__name__ == "Dropout":
                layer.rate = 0.0
    images = np.random.default_rng(0).uniform(0, 255, (4, 224, 224, 3)).astype("float32")
    expected = tf_keras.Model(old.input, [layer.output for layer in old_layers])(images, training=True)
    actual = keras.Model(new.input, new_tensors)(images, training=True)
    for cut, want, got in zip(cuts, expected, actual):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), np.asarray(want), rtol=1e-3, atol=1e-4, err_msg=cut.key)


@pytest.mark.parametrize("key", list(ABLATION_ROWS))
def test_rows_build_as_described(key: str) -> None:
    row = ABLATION_ROWS[key]
    model = _build_row(row, image_size=224, weights=None)
    names = {layer.name for layer in model.layers}
    assert ("soft_attention" in names) == row.attention
    assert ("metadata" in model.input) == row.metadata
    assert ("head_dense" in names) == bool(row.extra_dense)
    if row.extra_dense:
        assert model.get_layer("head_dense").units == row.extra_dense
    assert ("head_pool" in names) == (row.cut_key in CUTS)  # the logits cut has no head
    if row.cut_key in CUTS:
        cut_map = model.get_layer("head_pool").input
        assert (tuple(cut_map.shape[1:3]) == (1, 1)) == CUTS[row.cut_key].one_by_one
    assert row.one_by_one == (row.attention and ROW_CUTS[row.cut_key].one_by_one)
    keras.backend.clear_session(free_memory=True)


def test_plain_row_is_the_whole_network_then_a_7_way_softmax() -> None:
    """The author's plain MobileNetV3Large: ImageNet model to its flattened 1000-way logits, then
    Dense(7, softmax); no skinbench head, soft attention or metadata."""
    row = ABLATION_ROWS["plain"]
    assert (row.cut_key, row.attention, row.metadata, row.extra_dense) == (LOGITS.key, False, False, 0)
    model = _build_row(row, image_size=224, weights=None)
    output = model.get_layer("probabilities")
    assert output.units == 7 and output.get_config()["activation"] == "softmax"
    flatten = output.input._keras_history[0]
    assert isinstance(flatten, keras.layers.Flatten) and tuple(output.input.shape[1:]) == (1000,)
    logits = flatten.input._keras_history[0]
    assert logits.name == "logits" and logits.filters == 1000
    names = {layer.name for layer in model.layers}
    assert not names & {"head_pool", "head_relu", "head_dropout", "head_flatten", "soft_attention"}
    keras.backend.clear_session(free_memory=True)
    whole = keras.applications.MobileNetV3Large(input_shape=(224, 224, 3), include_top=True, weights=None).count_params()
    assert model.count_params() == whole + 1000 * 7 + 7
    with pytest.raises(ModelError, match="no soft attention"):
        build_model(BACKBONE, weights=None, cut=LOGITS.key)  # attention defaults to "paper"
    keras.backend.clear_session(free_memory=True)


def test_rows_cover_paper_table9() -> None:
    assert [row.paper_name for row in ABLATION_ROWS.values()] == published().rows(9)  # the paper's order
    assert sorted({row.cut for row in ABLATION_ROWS.values() if row.attention}) == list(ABLATION_CUTS)
    assert [cut.n for cut in CUTS.values()] == list(ABLATION_CUTS)
    assert {row.cut_key for row in ABLATION_ROWS.values() if not row.attention} == {LOGITS.key}


def test_row_errors() -> None:
    with pytest.raises(ModelError, match="cut246-dense512"):
        get_row("cut245")
    # Cuts inside the classifier top need include_top=True, which ImageNet weights allow
    # only at 224 pixels: refused before anything is downloaded.
    with pytest.raises(ModelError, match=r"model.image_size \(--image-size\) to 224"):
        _build_row(ABLATION_ROWS["cut270"], image_size=64, weights="imagenet")
    assert get_row(" CUT246 ").key == "cut246" and BACKBONE == "mobilenetv3large"

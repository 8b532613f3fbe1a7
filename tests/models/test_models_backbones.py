"""The backbone registry and the contract every registered backbone keeps (as keras-hub's shared
test case does for its models): the Keras application as Keras publishes it, the cut where the
registry says, and, at a small size, a model that builds, trains a step and survives model.keras.
Native sizes are slow on a CPU and marked so; the small size runs in the default suite."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from skinbench.catalogue import BACKBONES, MODERN, PAPER
from skinbench.errors import ModelError
from skinbench.models.backbones import ImagePreprocessing, application, get_backbone, locate, parse_backbones
from skinbench.models.build import ATTENTION_LAYER, build_model

# Keras applications documentation (keras.io/api/applications): parameters with the 1000-way
# top, exact as the constructors build them, and depth (layers holding weights; the docs list
# no depth for MobileNetV3, the paper's Table 3 gives 88 for MobileNetV3Small).
KERAS_DOCS = {
    "resnet50": (25_636_712, 107),
    "resnet152": (60_419_944, 311),
    "densenet201": (20_242_984, 402),
    "inceptionresnetv2": (55_873_736, 449),
    "vgg16": (138_357_544, 16),
    "mobilenet": (4_253_864, 55),
    "mobilenetv2": (3_538_984, 105),
    "mobilenetv3small": (2_554_968, 88),
    "mobilenetv3large": (5_507_432, None),
    "nasnetmobile": (5_326_716, 389),
    "nasnetlarge": (88_949_818, 533),
    # After the paper (keras.io lists 25.6M, 7.2M, 21.6M, 28.6M, 50.2M parameters).
    "resnet50v2": (25_613_800, 103),
    "efficientnetv2b0": (7_200_312, 151),
    "efficientnetv2s": (21_612_360, 281),
    "convnexttiny": (28_589_128, 96),
    "convnextsmall": (50_223_688, 186),
}

# METHOD.md's Backbones table: the cut's shape at the native size, and the kind of layer
# that produces it (a BatchNorm for InceptionResNetV2's "before its ReLU", the depthwise
# convolution for MobileNetV2's "before its BN", the activations elsewhere).
CUTS = {
    "resnet50": ((7, 7, 2048), "Activation"),
    "resnet152": ((7, 7, 2048), "Activation"),
    "densenet201": ((7, 7, 128), "Activation"),
    "inceptionresnetv2": ((8, 8, 192), "BatchNormalization"),
    "vgg16": ((14, 14, 512), "Conv2D"),
    "mobilenet": ((7, 7, 1024), "ReLU"),
    "mobilenetv2": ((7, 7, 960), "DepthwiseConv2D"),
    "mobilenetv3small": ((7, 7, 576), "Activation"),
    "mobilenetv3large": ((7, 7, 960), "Activation"),
    "nasnetmobile": ((7, 7, 176), "Activation"),
    "nasnetlarge": ((11, 11, 672), "Activation"),
    # The one rule after the paper: the last feature map, the input of the head's pooling.
    "resnet50v2": ((7, 7, 2048), "Activation"),
    "efficientnetv2b0": ((7, 7, 1280), "Activation"),
    "efficientnetv2s": ((12, 12, 1280), "Activation"),
    "convnexttiny": ((7, 7, 768), "Add"),
    "convnextsmall": ((7, 7, 768), "Add"),
}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=True)


def test_registry_names_and_lookup() -> None:
    assert list(BACKBONES) == list(KERAS_DOCS)
    assert BACKBONES.names(group=PAPER) == tuple(list(KERAS_DOCS)[:11])  # the paper's eleven, in its tables' order
    assert BACKBONES.names(group=MODERN) == ("resnet50v2", "efficientnetv2b0", "efficientnetv2s", "convnexttiny", "convnextsmall")
    assert get_backbone("  MobileNetV3Large ").display == "MobileNetV3Large"
    assert [spec.name for spec in parse_backbones("ResNet50, vgg16")] == ["resnet50", "vgg16"]
    assert [spec.name for spec in parse_backbones(None)] == list(KERAS_DOCS)  # every one, in the registry's order
    with pytest.raises(ModelError, match="nasnetlarge"):
        get_backbone("resnet18")


def test_a_backbone_after_the_paper_is_cut_by_the_one_rule() -> None:
    for backbone in BACKBONES.list(group=MODERN):
        assert backbone.cut.side == "input" and backbone.cut.layer.endswith(("avg_pool", "head_gap"))
        assert backbone.cut.describe() == "the last feature map: the input of the head's global average pooling"


def _hard_swish_after(batchnorm: str):
    def check(cut, application: keras.Model) -> None:
        activation = cut._keras_history[0]
        assert activation.get_config()["activation"] in ("hard_swish", "hard_silu")  # one function, two names
        assert activation.input is application.get_layer(batchnorm).output

    return check


def _batchnorm_feeding_block8_9_mixed_through_one_relu(cut, application: keras.Model) -> None:
    relu = application.get_layer("block8_9_mixed").input[0]._keras_history[0]
    assert relu.input is cut and relu.get_config()["activation"] == "relu"


# What METHOD.md says beyond the producing layer's kind.
CUT_DETAILS = {
    "mobilenetv3small": _hard_swish_after("expanded_conv_10_depthwise_bn"),
    "mobilenetv3large": _hard_swish_after("expanded_conv_14_depthwise_bn"),
    "inceptionresnetv2": _batchnorm_feeding_block8_9_mixed_through_one_relu,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KERAS_DOCS))
def test_native_application_and_cut(name: str) -> None:
    spec = get_backbone(name)
    built = application(spec, weights=None, include_top=True)
    params, depth = KERAS_DOCS[name]
    assert built.count_params() == params
    if depth is not None:
        assert sum(1 for layer in built.layers if layer.weights) == depth
    shape, producer_kind = CUTS[name]
    cut = locate(spec.cut, built)
    assert tuple(cut.shape[1:]) == shape
    assert type(cut._keras_history[0]).__name__ == producer_kind
    if name in CUT_DETAILS:
        CUT_DETAILS[name](cut, built)


#: The small size of the contract: the smallest input every registered backbone builds at but one.
SMALL = 32


@pytest.mark.parametrize("name", list(KERAS_DOCS))
def test_contract_at_a_small_size(name: str, tmp_path) -> None:
    """Builds at its smallest size with the cut's channels of the native size, refuses a smaller one,
    trains one step, and comes back from model.keras predicting the same."""
    spec = get_backbone(name)
    size = max(SMALL, spec.min_size)
    model = build_model(name, image_size=size, metadata_features=3, weights=None)
    assert model.get_layer(ATTENTION_LAYER).input.shape[-1] == CUTS[name][0][-1]
    rng = np.random.default_rng(0)
    inputs = {"image": rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8),
              "metadata": rng.normal(size=(4, 3)).astype("float32")}
    labels = np.eye(7, dtype="float32")[[0, 1, 2, 3]]
    # Eager: one step of a large graph costs less than tracing it.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", run_eagerly=True)
    before = [np.array(w) for w in model.get_layer("probabilities").get_weights()]
    loss = model.train_on_batch(inputs, labels)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_layer("probabilities").get_weights()))
    probs = keras.ops.convert_to_numpy(model(inputs, training=False))
    assert probs.shape == (4, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(inputs, training=False)), probs, rtol=1e-4, atol=1e-6)
    if spec.min_size > 1:
        with pytest.raises(ModelError, match=str(spec.min_size)):
            build_model(name, image_size=spec.min_size - 1, weights=None)


RGB = np.array([[[[255, 0, 10]]]], dtype=np.uint8)  # one pixel: R=255, G=0, B=10


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("caffe", [10 - 103.939, 0 - 116.779, 255 - 123.68]),  # BGR, ImageNet means
        ("torch", [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (10 / 255 - 0.406) / 0.225]),
        ("tf", [1.0, -1.0, 10 / 127.5 - 1]),
        ("none", [255.0, 0.0, 10.0]),
    ],
)
def test_preprocessing_modes(mode: str, expected: list[float]) -> None:
    out = keras.ops.convert_to_numpy(ImagePreprocessing(mode)(RGB))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(3), expected, rtol=1e-5, atol=1e-4)

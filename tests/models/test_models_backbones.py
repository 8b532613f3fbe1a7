"""The backbone registry: Keras applications as documented, cut tensors where METHOD.md puts them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from skinbench.errors import ModelError
from skinbench.models.backbones import REGISTRY, ImagePreprocessing, get_backbone, parse_backbones
from skinbench.models.build import build_model

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
}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=True)


def test_registry_names_and_lookup() -> None:
    assert list(REGISTRY) == list(KERAS_DOCS)
    assert get_backbone("  MobileNetV3Large ").display == "MobileNetV3Large"
    assert [spec.name for spec in parse_backbones("ResNet50, vgg16")] == ["resnet50", "vgg16"]
    assert [spec.name for spec in parse_backbones(None)] == list(KERAS_DOCS)  # all eleven, in the registry's order
    with pytest.raises(ModelError, match="nasnetlarge"):
        get_backbone("resnet18")


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


@pytest.mark.parametrize("name", list(REGISTRY))
def test_native_application_and_cut(name: str) -> None:
    spec = get_backbone(name)
    application = spec.application(weights=None, include_top=True)
    params, depth = KERAS_DOCS[name]
    assert application.count_params() == params
    if depth is not None:
        assert sum(1 for layer in application.layers if layer.weights) == depth
    shape, producer_kind = CUTS[name]
    cut = spec.cut.locate(application)
    assert tuple(cut.shape[1:]) == shape
    assert type(cut._keras_history[0]).__name__ == producer_kind
    if name in CUT_DETAILS:
        CUT_DETAILS[name](cut, application)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_builds_and_predicts_at_smallest_size(name: str) -> None:
    spec = get_backbone(name)
    model = build_model(name, image_size=spec.min_size, weights=None)
    images = np.random.default_rng(0).integers(0, 256, (2, spec.min_size, spec.min_size, 3), dtype=np.uint8)
    probs = keras.ops.convert_to_numpy(model({"image": images}, training=False))  # eager: no tracing
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
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

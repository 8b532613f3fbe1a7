"""The model builder: inputs, head, weights, saving, training."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import keras
import numpy as np
import pytest

from skinbench.catalogue import HAM10000_METADATA_FEATURES
from skinbench.errors import ModelError
from skinbench.models.build import attention_maps_model, build_model
from skinbench.train.loss import class_weights, weighted_categorical_crossentropy


def _batch(size: int, count: int = 4, features: int = HAM10000_METADATA_FEATURES, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),
        "metadata": rng.normal(size=(count, features)).astype("float32"),
    }


def _predict(model: keras.Model, batch: dict) -> np.ndarray:
    inputs = {name: batch[name] for name in model.input}
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def test_inputs_outputs_and_head(metadata_model: keras.Model) -> None:
    image, metadata = metadata_model.input["image"], metadata_model.input["metadata"]
    assert (tuple(image.shape), image.dtype) == ((None, 64, 64, 3), "uint8")
    assert (tuple(metadata.shape), metadata.dtype) == ((None, HAM10000_METADATA_FEATURES), "float32")
    probs = _predict(metadata_model, _batch(64))
    assert probs.shape == (4, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # Head: both 2x2 max-pools, concatenated on channels, then fused with Dense(4096)(metadata).
    concat = metadata_model.get_layer("head_concat")
    assert [tuple(t.shape) for t in concat.input] == [(None, 1, 1, 576), (None, 1, 1, 576)]
    assert metadata_model.get_layer("metadata_dense").units == 4096
    assert metadata_model.get_layer("head_dropout").rate == 0.5
    assert all(layer.trainable for layer in metadata_model.layers)


def test_attention_maps_model(metadata_model: keras.Model) -> None:
    maps = keras.ops.convert_to_numpy(attention_maps_model(metadata_model)(_batch(64), training=False))
    assert maps.shape == (4, 2, 2, 16)
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), 1.0, rtol=1e-5)


def test_keras_round_trip(metadata_model: keras.Model, tmp_path: Path) -> None:
    batch = _batch(64)
    path = tmp_path / "model.keras"
    metadata_model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(_predict(loaded, batch), _predict(metadata_model, batch), rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_round_trip_with_reference_attention_offset_cut_and_loss(tmp_path: Path) -> None:
    """cut251 adds a bare ``+ 3`` op to the graph; the weighted loss is a custom object."""
    model = build_model("mobilenetv3large", image_size=32, metadata_features=5, weights=None, attention="reference", cut="cut251")
    model.compile(loss=weighted_categorical_crossentropy(class_weights([0, 1, 1, 2], 3).tolist() + [1.0] * 4))
    batch = _batch(32, features=5)
    path = tmp_path / "cut251.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("soft_attention").variant == "reference"
    assert loaded.loss.get_config()["weights"] == model.loss.get_config()["weights"]
    np.testing.assert_allclose(_predict(loaded, batch), _predict(model, batch), rtol=1e-5, atol=1e-7)


def test_one_training_step_lowers_the_loss() -> None:
    keras.utils.set_random_seed(1)
    model = build_model("mobilenetv3small", image_size=32, metadata_features=HAM10000_METADATA_FEATURES, weights=None)
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 5])
    loss = weighted_categorical_crossentropy(class_weights(labels))
    # Eager: tracing (and XLA) would take a minute on a CPU and test nothing more.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=0.1), loss=loss, run_eagerly=True)
    batch = _batch(32, count=len(labels), seed=3)
    targets = keras.utils.to_categorical(labels, 7)
    before = float(keras.ops.convert_to_numpy(loss(targets, _predict(model, batch))))
    model.train_on_batch(batch, targets)
    after = float(keras.ops.convert_to_numpy(loss(targets, _predict(model, batch))))
    assert after < before


def test_bn_momentum_reaches_every_batchnorm_layer() -> None:
    def momenta(model: keras.Model) -> set[float]:
        return {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}

    assert momenta(build_model("mobilenetv3small", image_size=32, weights=None)) == {0.999}  # the application's own
    assert momenta(build_model("mobilenetv3small", image_size=32, weights=None, bn_momentum=0.9)) == {0.9}


def test_no_attention_and_extra_dense() -> None:
    model = build_model("mobilenetv3small", image_size=32, weights=None, attention=None, extra_dense=8)
    names = {layer.name for layer in model.layers}
    assert "soft_attention" not in names and "head_concat" not in names
    assert model.get_layer("head_dense").units == 8
    assert list(model.input) == ["image"]
    with pytest.raises(ModelError, match="no soft attention"):
        attention_maps_model(model)


@pytest.mark.parametrize("attention", ["paper", "reference"])
def test_mixed_precision_keeps_float32_probabilities(attention: str) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model("mobilenetv3small", image_size=32, weights=None, attention=attention)
        probs = _predict(model, _batch(32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert probs.dtype == np.float32 and probs.shape == (4, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)  # a float32 softmax over bfloat16 features


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 16}, "at least 32"),
        ({"cut": "cut240"}, "choose from default"),
        ({"attention": "datta"}, "paper, reference"),
        ({"weights": "/no/such/file.h5"}, "not found"),
    ],
)
def test_bad_requests_are_model_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        build_model("mobilenetv3small", **{"weights": None, **kwargs})


def test_imagenet_offline_says_how_to_proceed(monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.utils import file_utils

    def offline(fname, origin, *args, **kwargs):
        try:
            raise urllib.error.URLError("Name or service not known")
        except urllib.error.URLError as exc:
            raise Exception(f"URL fetch failure on {origin}: None -- {exc.reason}") from exc

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(ModelError) as caught:
        build_model("mobilenetv3small")  # native size: the file with the classifier top
    message = str(caught.value)
    assert "--weights none" in message and "~/.keras/models/" in message
    assert "weights_mobilenet_v3_small" in message  # the file to fetch


def test_weights_from_a_file(tmp_path: Path) -> None:
    source = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "small.weights.h5"
    source.save_weights(path)
    model = build_model("mobilenetv3small", image_size=32, weights=str(path))
    for name in ("conv", "expanded_conv_10_expand"):
        for expected, loaded in zip(source.get_layer(name).get_weights(), model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(loaded, expected)

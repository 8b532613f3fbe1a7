"""Build the paper's models: backbone to the cut, soft attention, head, optional metadata.

The model takes ``{"image": uint8 (H, W, 3) RGB}`` and, with metadata, ``{"metadata":
float32 (F,)}``; conversion to float and the backbone's preprocessing run inside it. Head
(as Datta et al.'s code): [MaxPool 2x2 'same' (t), MaxPool 2x2 'same' (soft attention(t))]
-> concatenate -> ReLU -> Dropout 0.5 -> Flatten; metadata models concatenate that with
Dense(4096, ReLU)(metadata); then Dense(num_classes, softmax). Every layer trains.

MobileNetV3Large's ``cut272`` (``models.ablation.LOGITS``, paper Table 9's plain row) is the
whole network to its flattened 1000-way logits; no head is added there: the optional extra
Dense and metadata branch, then Dense(num_classes, softmax), follow the logits directly.
"""

from __future__ import annotations

from pathlib import Path

import keras

from skinbench.classes import NUM_CLASSES
from skinbench.errors import ModelError
from skinbench.models import ablation
from skinbench.models.attention import VARIANTS, SoftAttention
from skinbench.catalogue import Backbone, CutPoint
from skinbench.models.backbones import ImagePreprocessing, application, get_backbone, locate, resolve_weights

METADATA_UNITS = 4096
ATTENTION_LAYER = "soft_attention"


def cut_points(spec: Backbone) -> dict[str, CutPoint]:
    """The cuts ``build_model(cut=...)`` accepts for a backbone: ``default`` and, for
    MobileNetV3Large, the ablation's ``cut230`` ... ``cut270`` and the logits, ``cut272``."""
    points = {"default": spec.cut}
    if spec.name == ablation.BACKBONE:
        points.update({key: cut.point for key, cut in ablation.ROW_CUTS.items()})
    return points


def build_model(
    backbone: str,
    *,
    image_size: int | None = None,
    metadata_features: int = 0,
    weights: str | Path | None = "imagenet",
    attention: str | None = "paper",
    num_classes: int = NUM_CLASSES,
    cut: str | None = None,
    extra_dense: int = 0,
    heads: int = 16,
    bn_momentum: float | None = None,
    name: str | None = None,
) -> keras.Model:
    """One skinbench model.

    Args:
        backbone: registry name (case-insensitive), e.g. ``"mobilenetv3large"``.
        image_size: input side length; ``None`` is the backbone's native size.
        metadata_features: F > 0 adds the ``"metadata"`` input and its Dense(4096) branch.
        weights: ``"imagenet"``, ``"none"``/``None`` or a weights file path.
        attention: ``"paper"``, ``"reference"`` (soft-attention variant) or ``None``/``"none"``
            (no soft attention: the head keeps only the MaxPool(t) branch).
        cut: ``None``/``"default"`` (the backbone's cut) or an ablation cut key
            (``"cut230"`` ... ``"cut270"``, or ``"cut272"``: the 1000-way logits without a head;
            MobileNetV3Large only).
        extra_dense: units of a Dense(ReLU) layer after Flatten (paper Table 9's Dense(512)).
        heads: soft-attention heads (K).
        bn_momentum: the momentum of every BatchNormalization layer's moving statistics
            (``None``: the application's own, 0.999 in MobileNetV3, 0.99 in most others).

    ImageNet weights with ``include_top=True`` exist only at the native size; at another size
    the backbone is built without its top, which cuts inside the top (266, 270) cannot use.
    """
    spec = get_backbone(backbone)
    size = spec.check_size(image_size)
    weights = resolve_weights(weights)
    point = _cut_point(spec, cut)
    if attention is not None and attention.strip().lower() == "none":
        attention = None
    if attention is not None and attention not in VARIANTS:
        raise ModelError(f"unknown soft-attention variant {attention!r}; choose from {', '.join(VARIANTS)} or none")
    logits = point is ablation.LOGITS.point  # the plain row's cut: no head on the logits
    if logits and attention is not None:
        raise ModelError(f"cut {cut} is {spec.display}'s 1000-way logits, a vector: no soft attention there (use attention none)")
    include_top = weights != "imagenet" or size == spec.native_size
    if point.needs_top and not include_top:
        raise ModelError(
            f"cut {cut} lies in {spec.display}'s classifier top, which ImageNet weights only fit at "
            f"{spec.native_size} pixels; set model.image_size (--image-size) to {spec.native_size} or model.weights "
            "(--weights) to none"
        )

    image = keras.Input((size, size, 3), dtype="uint8", name="image")
    pixels = ImagePreprocessing(spec.preprocessing, name="preprocess")(image)
    built = application(spec, image_size=size, weights=weights, include_top=include_top, input_tensor=pixels)
    features = locate(point, built)
    x = features if logits else _head(features, attention, heads)
    if extra_dense:
        x = keras.layers.Dense(extra_dense, activation="relu", name="head_dense")(x)
    inputs = {"image": image}
    if metadata_features:
        metadata = keras.Input((metadata_features,), dtype="float32", name="metadata")
        inputs["metadata"] = metadata
        branch = keras.layers.Dense(METADATA_UNITS, activation="relu", name="metadata_dense")(metadata)
        x = keras.layers.Concatenate(name="fusion")([x, branch])
    # float32 output keeps the softmax exact under mixed precision.
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name=name or f"skinbench_{spec.name}")
    if bn_momentum is not None:
        set_bn_momentum(model, bn_momentum)
    return model


def set_bn_momentum(model: keras.Model, momentum: float) -> None:
    """Give every BatchNormalization layer of ``model`` (nested models too) ``momentum``."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
        elif isinstance(layer, keras.Model):
            set_bn_momentum(layer, momentum)


def attention_maps_model(model: keras.Model) -> keras.Model:
    """A model from the same inputs to the soft-attention maps (batch, H, W, K), for pictures."""
    try:
        layer = model.get_layer(ATTENTION_LAYER)
    except ValueError as exc:
        raise ModelError(f"{model.name} has no soft attention") from exc
    return keras.Model(model.input, layer.output[1], name=f"{model.name}_attention_maps")


def _cut_point(spec: Backbone, cut: str | None) -> CutPoint:
    points = cut_points(spec)
    key = "default" if cut is None else cut.strip().lower()
    if key not in points:
        raise ModelError(f"{spec.display} has no cut {cut!r}; choose from {', '.join(points)}")
    return points[key]


def _head(features, attention: str | None, heads: int):
    """MaxPool(t) [+ MaxPool(soft attention(t))] -> concatenate -> ReLU -> Dropout -> Flatten."""
    x = keras.layers.MaxPooling2D(2, padding="same", name="head_pool")(features)
    if attention is not None:
        attended, _maps = SoftAttention(heads=heads, variant=attention, name=ATTENTION_LAYER)(features)
        attended = keras.layers.MaxPooling2D(2, padding="same", name="head_attention_pool")(attended)
        x = keras.layers.Concatenate(name="head_concat")([x, attended])
    x = keras.layers.Activation("relu", name="head_relu")(x)
    x = keras.layers.Dropout(0.5, name="head_dropout")(x)
    return keras.layers.Flatten(name="head_flatten")(x)

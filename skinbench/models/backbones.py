"""The backbone registry: which Keras application, at what size, cut where, preprocessed how.

Every backbone is a ``keras.applications`` model built with ``include_top=True`` as in the
paper. Soft attention goes on a feature map inside it, the *cut*. A cut is found from a layer
with a stable, hand-written name and the graph around it (the inputs of that layer, the layer
that produced them), never from a name Keras generates (``activation_17``): those depend on
what was built earlier in the process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, get_args

import keras

from skinbench import catalogue
from skinbench.errors import ModelError

PreprocessMode = Literal["caffe", "torch", "tf", "none"]


@dataclass(frozen=True)
class CutPoint:
    """Where a feature map sits in a backbone's graph, relative to a stably named layer.

    ``side="output"`` takes that layer's output; ``side="input"`` its ``index``-th input.
    ``up`` then walks that many producers further up the graph (each producer must have a
    single input). ``offset`` adds a constant to the located tensor: tf.keras 2 exposed
    hard-sigmoid's ``x + 3`` as a layer of its own, and some of the paper's cuts land there.
    ``needs_top`` marks cuts inside the classifier top (only built with ``include_top=True``).
    """

    layer: str
    side: Literal["output", "input"] = "output"
    index: int = 0
    up: int = 0
    offset: float | None = None
    note: str = ""
    needs_top: bool = False

    def locate(self, model: keras.Model):
        """The cut tensor in ``model``'s graph (a symbolic KerasTensor)."""
        try:
            anchor = model.get_layer(self.layer)
        except ValueError as exc:
            raise ModelError(f"{model.name} has no layer named {self.layer!r}; this Keras version builds the backbone differently") from exc
        if self.side == "output":
            tensor = anchor.output
        else:
            inputs = anchor.input if isinstance(anchor.input, (list, tuple)) else [anchor.input]
            tensor = inputs[self.index]
        for _ in range(self.up):
            tensor = _single_input(_producer(model, tensor))
        if self.offset is not None:
            tensor = keras.ops.add(tensor, self.offset)
        return tensor

    def describe(self) -> str:
        """A short human description (the METHOD.md wording when ``note`` is set)."""
        if self.note:
            return self.note
        where = self.layer if self.side == "output" else f"input {self.index} of {self.layer}"
        if self.up:
            where += f", {self.up} up"
        return where if self.offset is None else f"{where} + {self.offset:g}"


def _producer(model: keras.Model, tensor) -> keras.Operation:
    """The operation in ``model`` whose output is ``tensor``."""
    for operation in model.operations:
        outputs = operation.output if isinstance(operation.output, (list, tuple)) else [operation.output]
        if any(output is tensor for output in outputs):
            return operation
    raise ModelError(f"no operation of {model.name} produces {tensor.name}")


def _single_input(operation: keras.Operation):
    inputs = operation.input if isinstance(operation.input, (list, tuple)) else [operation.input]
    if len(inputs) != 1:
        raise ModelError(f"cannot walk up through {operation.name}: it has {len(inputs)} inputs")
    return inputs[0]


@keras.saving.register_keras_serializable(package="skinbench")
class ImagePreprocessing(keras.layers.Layer):
    """uint8 RGB in, the backbone family's input out, inside the model (so on the accelerator).

    Modes are Keras' ``imagenet_utils.preprocess_input`` modes: ``caffe`` (RGB to BGR, ImageNet
    mean subtracted), ``torch`` (to [0, 1], ImageNet mean and sd), ``tf`` (to [-1, 1]); ``none``
    only converts to float (MobileNetV3 rescales inside its own graph).
    """

    def __init__(self, mode: PreprocessMode = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in get_args(PreprocessMode):
            raise ValueError(f"unknown preprocessing mode {mode!r}")
        self.mode = mode

    def call(self, images):
        images = keras.ops.cast(images, self.compute_dtype)
        if self.mode == "none":
            return images
        return keras.applications.imagenet_utils.preprocess_input(images, data_format="channels_last", mode=self.mode)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone: its catalogue entry (names, sizes), Keras constructor, preprocessing and cut."""

    info: catalogue.Backbone
    constructor: Callable[..., keras.Model]
    preprocessing: PreprocessMode
    cut: CutPoint

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def display(self) -> str:
        return self.info.display

    @property
    def native_size(self) -> int:
        return self.info.native_size

    @property
    def min_size(self) -> int:
        return self.info.min_size

    def application(
        self,
        *,
        image_size: int | None = None,
        weights: str | Path | None = None,
        include_top: bool = True,
        input_tensor=None,
    ) -> keras.Model:
        """Build the Keras application (weights ``None``/``"none"``, ``"imagenet"`` or a file path).

        A failed ImageNet download becomes a ModelError that says how to work offline.
        """
        size = self.check_size(image_size)
        weights = resolve_weights(weights)
        try:
            return self.constructor(
                include_top=include_top,
                weights=weights,
                input_shape=(size, size, 3),
                input_tensor=input_tensor,
            )
        except Exception as exc:
            if weights == "imagenet" and _is_download_failure(exc):
                raise ModelError(_download_advice(self.name, self.display, exc)) from exc
            if weights not in (None, "imagenet") and isinstance(exc, (ValueError, OSError)):
                raise ModelError(f"cannot load {self.display} weights from {weights}: {_first_line(exc)}") from exc
            raise

    def paper_table3(self) -> dict[str, float]:
        """The paper's Table 3 values (``size_mb``, ``params_m``, ``depth``); NaN where the
        paper printed none or has no row (VGG16)."""
        from skinbench.paper import paper_table

        table = paper_table(3)
        columns = ("size_mb", "params_m", "depth")
        if self.display not in table.index:
            return dict.fromkeys(columns, float("nan"))
        return {column: float(table.loc[self.display, column]) for column in columns}

    def check_size(self, image_size: int | None) -> int:
        """The input side length to build at (``catalogue.Backbone.check_size``)."""
        return self.info.check_size(image_size)


def resolve_weights(weights: str | Path | None) -> str | None:
    """``"imagenet"``, ``None`` (also spelled ``"none"``) or an existing weights file's path."""
    if weights is None or str(weights).strip().lower() == "none":
        return None
    if str(weights).strip().lower() == "imagenet":
        return "imagenet"
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ModelError(f"weights file {path} not found; use --weights imagenet, --weights none, or the path of a weights file")
    return str(path)


def _is_download_failure(exc: BaseException) -> bool:
    """True when ``keras.utils.get_file`` failed to fetch (it re-raises a bare Exception)."""
    import urllib.error

    while exc is not None:
        if isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError)):
            return True
        if str(exc).startswith("URL fetch failure"):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _download_advice(name: str, display: str, exc: BaseException) -> str:
    fetch = f"'skinbench data fetch-weights --backbones {name}' on a connected machine"
    url = re.search(r"https?://[^\s:]+(?::\d+)?[^\s:]*", str(exc))
    if url is None:
        return (f"could not download the ImageNet weights of {display} ({_first_line(exc)}); use --weights none "
                f"to train from scratch, or run {fetch} and copy ~/.keras/models/ here")
    filename = url.group(0).rsplit("/", 1)[-1]
    return (
        f"could not download the ImageNet weights of {display} from {url.group(0)}; use --weights none to "
        f"train from scratch, or run {fetch} (or download {filename} there) and place it in the Keras cache "
        f"(~/.keras/models/{filename})"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_apps = keras.applications

_info = catalogue.BACKBONES

#: The eleven backbones of ``catalogue.BACKBONES``, with their Keras side, in the same order.
REGISTRY: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(_info["resnet50"], _apps.ResNet50, "caffe", CutPoint("conv5_block3_out")),
        BackboneSpec(_info["resnet152"], _apps.ResNet152, "caffe", CutPoint("conv5_block1_out")),
        BackboneSpec(_info["densenet201"], _apps.DenseNet201, "torch", CutPoint("conv5_block29_1_relu")),
        BackboneSpec(
            _info["inceptionresnetv2"], _apps.InceptionResNetV2, "tf",
            CutPoint("block8_9_mixed", side="input", index=0, up=1,
                     note="block8_9 branch 0 BatchNorm output (before its ReLU)"),
        ),
        BackboneSpec(_info["vgg16"], _apps.VGG16, "caffe", CutPoint("block5_conv3")),
        BackboneSpec(_info["mobilenet"], _apps.MobileNet, "tf", CutPoint("conv_pw_13_relu")),
        BackboneSpec(_info["mobilenetv2"], _apps.MobileNetV2, "tf", CutPoint("block_14_depthwise")),
        BackboneSpec(
            _info["mobilenetv3small"], _apps.MobileNetV3Small, "none",
            CutPoint("expanded_conv_10_squeeze_excite_avg_pool", side="input",
                     note="hard-swish after expanded_conv_10_depthwise_bn"),
        ),
        BackboneSpec(
            _info["mobilenetv3large"], _apps.MobileNetV3Large, "none",
            CutPoint("expanded_conv_14_squeeze_excite_avg_pool", side="input",
                     note="hard-swish after expanded_conv_14_depthwise_bn"),
        ),
        BackboneSpec(
            _info["nasnetmobile"], _apps.NASNetMobile, "tf",
            CutPoint("separable_conv_2_normal_left5_12", side="input",
                     note="ReLU feeding separable_conv_2_normal_left5_12"),
        ),
        BackboneSpec(
            _info["nasnetlarge"], _apps.NASNetLarge, "tf",
            CutPoint("separable_conv_2_normal_left5_18", side="input",
                     note="ReLU feeding separable_conv_2_normal_left5_18"),
        ),
    )
}


def get_backbone(name: str) -> BackboneSpec:
    """The registry entry for ``name`` (case-insensitive); unknown names list the valid ones."""
    spec = REGISTRY.get(name.strip().lower())
    if spec is None:
        raise ModelError(f"unknown backbone {name!r}; choose from {', '.join(REGISTRY)}")
    return spec


def parse_backbones(text: str | None) -> list[BackboneSpec]:
    """Comma-separated names (None or empty: all of them, in registry order)."""
    if not text or not text.strip():
        return list(REGISTRY.values())
    return [get_backbone(part) for part in text.split(",") if part.strip()]

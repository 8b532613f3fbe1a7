"""The Keras side of the backbones of ``catalogue.BACKBONES``: build one, find its cut, preprocess.

Every backbone is a ``keras.applications`` model (or a plugin's constructor) built with
``include_top=True`` as in the paper. Soft attention goes on a feature map inside it, the *cut*
(``catalogue.CutPoint``). A cut is found from a layer with a stable, hand-written name and the
graph around it (the inputs of that layer, the layer that produced them), never from a name
Keras generates (``activation_17``): those depend on what was built earlier in the process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import keras

from skinbench.catalogue import BACKBONES, Backbone, CutPoint, PreprocessMode
from skinbench.errors import ModelError


def locate(cut: CutPoint, model: keras.Model):
    """The tensor of ``cut`` in ``model``'s graph (a symbolic KerasTensor)."""
    try:
        anchor = model.get_layer(cut.layer)
    except ValueError as exc:
        raise ModelError(f"{model.name} has no layer named {cut.layer!r}; this Keras version builds the backbone differently") from exc
    if cut.side == "output":
        tensor = anchor.output
    else:
        inputs = anchor.input if isinstance(anchor.input, (list, tuple)) else [anchor.input]
        tensor = inputs[cut.index]
    for _ in range(cut.up):
        tensor = _single_input(_producer(model, tensor))
    if cut.offset is not None:
        tensor = keras.ops.add(tensor, cut.offset)
    return tensor


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


def get_backbone(name: str) -> Backbone:
    """The registry entry for ``name`` (case-insensitive); unknown names list the valid ones."""
    return BACKBONES.get(name)


def _constructor(backbone: Backbone):
    """The function that builds ``backbone``'s application (a ``keras.applications`` attribute,
    or the plugin's callable)."""
    if callable(backbone.application):
        return backbone.application
    return getattr(keras.applications, backbone.application)


def application(
    backbone: Backbone,
    *,
    image_size: int | None = None,
    weights: str | Path | None = None,
    include_top: bool = True,
    input_tensor=None,
) -> keras.Model:
    """Build the Keras application (weights ``None``/``"none"``, ``"imagenet"`` or a file path).

    A failed ImageNet download becomes a ModelError that says how to work offline.
    """
    size = backbone.check_size(image_size)
    weights = resolve_weights(weights)
    try:
        return _constructor(backbone)(include_top=include_top, weights=weights, input_shape=(size, size, 3),
                                     input_tensor=input_tensor)
    except Exception as exc:
        if weights == "imagenet" and _is_download_failure(exc):
            raise ModelError(_download_advice(backbone.name, backbone.display, exc)) from exc
        if weights not in (None, "imagenet") and isinstance(exc, (ValueError, OSError)):
            raise ModelError(f"cannot load {backbone.display} weights from {weights}: {_first_line(exc)}") from exc
        raise


def paper_table3(backbone: Backbone) -> dict[str, float]:
    """The preprint's Table 3 values (``size_mb``, ``params_m``, ``depth``); NaN where the paper
    printed none or has no row (VGG16 and the backbones after the paper)."""
    from skinbench.studies.do2022.published import published

    table = published("preprint").table(3)
    columns = ("size_mb", "params_m", "depth")
    if backbone.display not in table.index:
        return dict.fromkeys(columns, float("nan"))
    return {column: float(table.loc[backbone.display, column]) for column in columns}


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


def parse_backbones(text: str | None) -> list[Backbone]:
    """Comma-separated names (None or empty: all of them, in registry order)."""
    if not text or not text.strip():
        return BACKBONES.values()
    return [get_backbone(part) for part in text.split(",") if part.strip()]

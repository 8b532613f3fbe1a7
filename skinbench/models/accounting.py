"""Model accounting, computed from layer shapes so it is the same on every backend.

- ``params``: all weights, including BatchNorm's moving statistics (Keras' ``count_params``).
- ``depth``: layers that hold weights (the Keras applications table's convention: ResNet50 107).
- ``size_mb``: the weights' bytes in MiB (float32 is 4 bytes a parameter; the Keras table's
  sizes are HDF5 files, a little larger).
- ``macs``: multiply-accumulates per image of every layer with a kernel (convolutions of all
  kinds, dense, soft attention's convolution): output positions times kernel size.
  ``flops`` = 2 * ``macs``. BatchNorm, activations, pooling and additions are not counted.

``backbone_summary`` gives the same parameters, depth and size of the bare Keras application
(native size, ``include_top=True``, no weights), the thing the paper's Tables 3 and 11 count;
model.json records it beside the trained model's figures.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Iterable

import keras
import numpy as np
import pandas as pd

from skinbench.catalogue import Backbone
from skinbench.models.backbones import application, get_backbone, locate, paper_table3

MIB = 2**20


def summarize(model: keras.Model) -> dict:
    """``params, trainable_params, non_trainable_params, depth, size_mb, macs, flops``."""
    layers = list(_leaf_layers(model))
    macs = _macs(layers)
    return {
        "params": int(model.count_params()),
        "trainable_params": _count(model.trainable_weights),
        "non_trainable_params": _count(model.non_trainable_weights),
        "depth": sum(1 for layer in layers if layer.weights),
        "size_mb": sum(math.prod(w.shape) * _itemsize(w) for w in model.weights) / MIB,
        "macs": macs,
        "flops": None if macs is None else 2 * macs,
    }


def bare_application(spec: Backbone) -> keras.Model:
    """The Keras application as the paper's Table 3 counts it: native size, ``include_top=True``,
    no weights, on an input of its own."""
    size = spec.native_size
    return application(spec, weights=None, include_top=True, input_tensor=keras.Input((size, size, 3)))


def backbone_summary(backbone: str) -> dict:
    """``backbone_params, backbone_depth, backbone_size_mb`` of the bare application
    (``bare_application``), for model.json. Built once per backbone and process."""
    return dict(_bare_figures(get_backbone(backbone)))


@functools.cache
def _bare_figures(spec: Backbone) -> tuple[tuple[str, float], ...]:
    figures = summarize(bare_application(spec))
    return tuple((f"backbone_{key}", figures[key]) for key in ("params", "depth", "size_mb"))


def measure_backbone(spec: Backbone) -> dict:
    """Build the backbone as the paper's Table 3 counts it (``bare_application``) and summarise
    it, with the cut's description and shape."""
    model = bare_application(spec)
    cut_shape = tuple(locate(spec.cut, model).shape[1:])
    return {"backbone": spec.name, "display": spec.display, "input": spec.native_size,
            "cut": spec.cut.describe(), "cut_shape": "x".join(str(d) for d in cut_shape), **summarize(model)}


def backbone_table(specs: Iterable[Backbone], progress: Callable[[Backbone], None] | None = None) -> pd.DataFrame:
    """Measured accounting of each backbone beside the paper's Table 3 (paper_* columns).

    ``progress(spec)`` is called before each (slow) build. Each build starts a fresh Keras
    session, so only one backbone is held in memory at a time.
    """
    rows = []
    for spec in specs:
        if progress is not None:
            progress(spec)
        keras.backend.clear_session(free_memory=True)
        paper = {f"paper_{column}": value for column, value in paper_table3(spec).items()}
        rows.append({**measure_backbone(spec), **paper})
    return pd.DataFrame(rows)


def _leaf_layers(model: keras.Model):
    """Every layer, looking inside nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _macs(layers: list[keras.layers.Layer]) -> int | None:
    """Sum over layers of output positions x kernel sizes; None when a spatial size is unknown.

    One rule fits every kind: a kernel's size is the multiply-accumulates it does at one output
    position (a depthwise kernel is kh*kw*C*multiplier, a separable layer has two kernels, a
    Dense layer has one position per sample).
    """
    total = 0
    for layer in layers:
        kernels = [w for w in layer.weights if len(w.shape) >= 2]
        if not kernels:
            continue
        output = layer.output[0] if isinstance(layer.output, (list, tuple)) else layer.output
        positions = output.shape[1:-1]
        if any(d is None for d in positions):
            return None
        total += math.prod(positions) * sum(math.prod(k.shape) for k in kernels)
    return total


def _count(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _itemsize(weight) -> int:
    return np.dtype(keras.backend.standardize_dtype(weight.dtype)).itemsize

"""Soft attention written out in plain NumPy, loop by loop, to check the Keras layer against."""

from __future__ import annotations

import math

import numpy as np


def conv3d_same(volume: np.ndarray, kernel: np.ndarray, strides: tuple[int, int, int]) -> np.ndarray:
    """A literal 3-D convolution (channels-last, 'same' padding with the odd pixel at the end,
    as TensorFlow and JAX pad). ``volume`` (B, D1, D2, D3, Cin), ``kernel`` (k1, k2, k3, Cin, Cout)."""
    dims, sizes = volume.shape[1:4], kernel.shape[:3]
    outs = [math.ceil(d / s) for d, s in zip(dims, strides)]
    pads = [max((o - 1) * s + k - d, 0) for o, s, k, d in zip(outs, strides, sizes, dims)]
    padded = np.pad(volume, [(0, 0)] + [(p // 2, p - p // 2) for p in pads] + [(0, 0)])
    result = np.zeros((volume.shape[0], *outs, kernel.shape[-1]))
    for i, j, l in np.ndindex(*outs):
        a, b, c = i * strides[0], j * strides[1], l * strides[2]
        window = padded[:, a : a + sizes[0], b : b + sizes[1], c : c + sizes[2], :]
        result[:, i, j, l, :] = np.tensordot(window, kernel, axes=4)
    return result


def soft_attention(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, gamma: float | None):
    """(attended, maps) for a (B, H, W, C) input; ``maps`` is (B, H, W, K)."""
    channels = x.shape[-1]
    logits = conv3d_same(x[..., None], kernel, (1, 1, channels))[:, :, :, 0, :] + bias
    logits = np.maximum(logits, 0.0)
    batch, height, width, heads = logits.shape
    flat = logits.reshape(batch, height * width, heads)
    exp = np.exp(flat - flat.max(axis=1, keepdims=True))
    maps = (exp / exp.sum(axis=1, keepdims=True)).reshape(batch, height, width, heads)
    attended = maps.sum(axis=-1, keepdims=True) * x
    return (attended if gamma is None else gamma * attended), maps


def random_case(variant: str, shape: tuple[int, int, int, int], heads: int = 16, seed: int = 0) -> dict:
    """Random input and weights (kernel, bias, gamma) for one variant."""
    rng = np.random.default_rng(seed)
    channels = shape[-1]
    kernel_axes = (3, 3, channels) if variant == "paper" else (channels, 3, 3)
    return {
        "x": rng.normal(size=shape).astype("float32"),
        "kernel": rng.uniform(-0.5, 0.5, size=(*kernel_axes, 1, heads)).astype("float32"),
        "bias": rng.uniform(-0.2, 0.2, size=(heads,)).astype("float32"),
        "gamma": 0.7 if variant == "paper" else None,
    }


def layer_weights(case: dict) -> list[np.ndarray]:
    """The case's weights in the order ``SoftAttention.set_weights`` takes them."""
    weights = [case["kernel"], case["bias"]]
    return weights if case["gamma"] is None else [*weights, np.array(case["gamma"], dtype="float32")]

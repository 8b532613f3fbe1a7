"""Soft attention (Datta et al. 2021), written with ``keras.ops`` so every backend runs it.

For a feature map ``t`` of shape (H, W, C) and K heads:

1. a 3-D convolution over ``t`` viewed as (H, W, C, 1), with K filters and strides
   (1, 1, C), gives one (H, W) logit map per head; bias, ReLU;
2. each head's map is normalised by a softmax over the H*W positions;
3. the K maps are summed into ``alpha`` (H, W, 1);
4. the output is ``alpha * t`` (times a learnable ``gamma`` in the paper variant).

The two variants differ only in the kernel and ``gamma``:

- ``"paper"`` (the paper's text): kernel (3, 3, C) over the axes (H, W, C), so every channel
  reaches the logits (with stride C along the channel axis this is a 3x3 convolution over
  all channels); ``gamma`` starts at 0.01 and is learned.
- ``"reference"`` (the public code, exactly): kernel (C, 3, 3) over (H, W, C) with 'same'
  padding, so the kernel's first axis slides along the rows and only channels 0-2 reach the
  logits (as a GPU computes it; see ``_reference_volume``); no ``gamma``. 144*C + 16 weights
  for K = 16, as is the paper variant's kernel.
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

from skinbench.catalogue import ATTENTION_VARIANTS as VARIANTS
GAMMA_INIT = 0.01


@keras.saving.register_keras_serializable(package="skinbench")
class SoftAttention(keras.layers.Layer):
    """Soft attention over a channels-last feature map.

    Returns ``(attended, maps)``: ``attended`` has the input's shape; ``maps`` (batch, H, W, K)
    holds each head's softmax map (each sums to 1 over the H*W positions), for pictures.
    """

    def __init__(self, heads: int = 16, variant: str = "paper", **kwargs):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"unknown soft-attention variant {variant!r}; choose from {', '.join(VARIANTS)}")
        self.heads = int(heads)
        self.variant = variant

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("SoftAttention needs a known number of channels")
        kernel_axes = (3, 3, channels) if self.variant == "paper" else (channels, 3, 3)
        self.kernel = self.add_weight(
            name="kernel", shape=(*kernel_axes, 1, self.heads), initializer="he_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.heads,), initializer="zeros")
        self.gamma = (
            self.add_weight(name="gamma", shape=(), initializer=keras.initializers.Constant(GAMMA_INIT))
            if self.variant == "paper"
            else None
        )

    def call(self, inputs):
        if self.variant == "paper":
            # Kernel depth C with stride C along the channel axis is a 3x3 2-D convolution
            # over all channels; run it as one (several times faster than the 3-D form).
            logits = ops.conv(inputs, self.kernel[:, :, :, 0, :], padding="same")
        else:
            logits = ops.conv(_reference_volume(inputs), self.kernel, padding="valid")[:, :, :, 0, :]
        logits = ops.relu(logits + self.bias)  # (B, H, W, K)
        shape = ops.shape(logits)
        flat = ops.reshape(logits, (shape[0], shape[1] * shape[2], self.heads))
        with warnings.catch_warnings():
            # A 1x1 map (paper Table 9's late cuts) makes every map 1; that is what the paper ran.
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            maps = ops.reshape(ops.softmax(flat, axis=1), shape)
        alpha = ops.sum(maps, axis=-1, keepdims=True)
        attended = alpha * inputs
        if self.gamma is not None:
            attended = self.gamma * attended
        return attended, maps

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (*input_shape[:-1], self.heads)

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads, "variant": self.variant}


def _reference_volume(inputs):
    """The public code's conv3d input with its 'same' padding written out, (B, H', W', 3, 1).

    The code ran ``conv3d(expand_dims(t), kernel (C, 3, 3), strides (1, 1, C), 'same')``.
    'Same' padding as cuDNN and XLA compute it (total max(0, (out - 1) * stride + k - in),
    the odd pixel at the end) puts C - 1 zero rows around the row axis, one column on each
    side, and a single channel window over channels 0-2 (zero-padded when C < 3).
    TensorFlow's CPU kernel instead centres that window on the middle channels, so the
    padding is done here, explicitly, and every backend and device computes the same thing.
    """
    channels = inputs.shape[-1]
    short = max(3 - channels, 0)
    window = ops.pad(inputs, [(0, 0), (0, 0), (0, 0), (short // 2, short - short // 2)])[..., :3]
    rows = channels - 1
    return ops.pad(ops.expand_dims(window, -1), [(0, 0), (rows // 2, rows - rows // 2), (1, 1), (0, 0), (0, 0)])

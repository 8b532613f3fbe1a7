"""SoftAttention against a plain NumPy implementation, for both variants."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from attention_numpy import layer_weights, random_case, soft_attention
from skinbench.models.attention import GAMMA_INIT, SoftAttention

# (H, W, C): C = 8 > H gives the reference kernel's long row axis an odd total padding, so
# the test also pins which side gets the extra row; C = 2 < 3 pads the channel window.
SHAPES = [(2, 5, 4, 6), (3, 3, 3, 11), (2, 4, 5, 8), (2, 3, 4, 2)]


def _layer(case: dict, variant: str) -> SoftAttention:
    layer = SoftAttention(heads=case["kernel"].shape[-1], variant=variant)
    layer.build(case["x"].shape)
    layer.set_weights(layer_weights(case))
    return layer


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", ["paper", "reference"])
def test_matches_numpy(variant: str, shape: tuple[int, ...]) -> None:
    case = random_case(variant, shape)
    attended, maps = _layer(case, variant)(case["x"])
    expected_attended, expected_maps = soft_attention(case["x"], case["kernel"], case["bias"], case["gamma"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(maps), expected_maps, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(attended), expected_attended, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", ["paper", "reference"])
def test_each_head_sums_to_one_over_positions(variant: str) -> None:
    case = random_case(variant, (2, 6, 5, 7), seed=1)
    _, maps = _layer(case, variant)(case["x"])
    sums = keras.ops.convert_to_numpy(maps).sum(axis=(1, 2))
    assert sums.shape == (2, 16)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


@pytest.mark.parametrize("channels", [3, 64, 960])
def test_weight_counts(channels: int) -> None:
    reference = SoftAttention(variant="reference")
    reference.build((None, 7, 7, channels))
    assert reference.count_params() == 144 * channels + 16
    paper = SoftAttention()
    paper.build((None, 7, 7, channels))
    assert paper.count_params() == 144 * channels + 16 + 1  # + gamma
    assert float(keras.ops.convert_to_numpy(paper.gamma)) == pytest.approx(GAMMA_INIT)


def test_reference_logits_see_only_the_first_three_channels() -> None:
    """The public code's kernel slides its long axis along the rows, so channels 3.. never
    reach the logits; the paper variant's kernel spans every channel."""
    for variant, changes in (("reference", False), ("paper", True)):
        case = random_case(variant, (1, 4, 4, 9), seed=2)
        layer = _layer(case, variant)
        other = case["x"].copy()
        other[..., 3:] += 1.0
        _, before = layer(case["x"])
        _, after = layer(other)
        moved = not np.allclose(keras.ops.convert_to_numpy(before), keras.ops.convert_to_numpy(after))
        assert moved == changes, variant


def test_output_shapes_and_config() -> None:
    layer = SoftAttention(heads=4, variant="reference", name="sa")
    assert layer.compute_output_shape((None, 7, 7, 32)) == ((None, 7, 7, 32), (None, 7, 7, 4))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, SoftAttention)
    assert (clone.heads, clone.variant, clone.name) == (4, "reference", "sa")


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="reference"):
        SoftAttention(variant="datta")

"""The models on the JAX backend (Keras picks its backend at import: a fresh process)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from attention_numpy import layer_weights, random_case, soft_attention
from skinbench.catalogue import HAM10000_METADATA_FEATURES

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import keras
    import numpy as np

    from skinbench.models.attention import SoftAttention
    from skinbench.models.build import build_model

    assert keras.backend.backend() == "jax", keras.backend.backend()
    folder = Path(sys.argv[1])
    given = np.load(folder / "in.npz")
    out = {}
    for variant in ("paper", "reference"):
        layer = SoftAttention(variant=variant)
        layer.build(given[f"{variant}_x"].shape)
        layer.set_weights([given[f"{variant}_w{i}"] for i in range(len(layer.weights))])
        attended, maps = layer(given[f"{variant}_x"])
        out[f"{variant}_attended"] = keras.ops.convert_to_numpy(attended)
        out[f"{variant}_maps"] = keras.ops.convert_to_numpy(maps)
    # MobileNet: JAX compiles each distinct weight initialiser, and it has the fewest.
    model = build_model("mobilenet", image_size=32, metadata_features=int(given["features"]), weights=None)
    out["probs"] = model.predict({"image": given["image"], "metadata": given["metadata"]}, verbose=0)
    np.savez(folder / "out.npz", **out)
    """
)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_metadata_model_and_attention(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cases = {variant: random_case(variant, (2, 5, 4, 8), seed=4) for variant in ("paper", "reference")}
    arrays = {
        "features": np.array(HAM10000_METADATA_FEATURES),
        "image": rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
        "metadata": rng.normal(size=(2, HAM10000_METADATA_FEATURES)).astype("float32"),
    }
    for variant, case in cases.items():
        arrays[f"{variant}_x"] = case["x"]
        arrays.update({f"{variant}_w{i}": w for i, w in enumerate(layer_weights(case))})
    np.savez(tmp_path / "in.npz", **arrays)

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]

    out = np.load(tmp_path / "out.npz")
    assert out["probs"].shape == (2, 7)
    np.testing.assert_allclose(out["probs"].sum(axis=1), 1.0, rtol=1e-5)
    for variant, case in cases.items():
        attended, maps = soft_attention(case["x"], case["kernel"], case["bias"], case["gamma"])
        np.testing.assert_allclose(out[f"{variant}_maps"], maps, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(out[f"{variant}_attended"], attended, rtol=1e-4, atol=1e-5)

"""A test-only backbone: two small convolutions, so runner, resume and failure tests train in seconds.

``register()`` adds it to the backbone registry under the name ``tiny`` (native size 32). A subprocess registers it too by running ``python -c`` with ``CLI_WITH_TINY``.
Everything else the cell does (cache, batches, soft attention, head, metadata branch,
checkpoints, records) is the real path.
"""

from __future__ import annotations

import operator

import pytest

NAME = "tiny"
#: Runs ``skinbench`` with the tests' job plugin (the tiny backbone, and the holds and logs its
#: environment variables ask for): ``[sys.executable, "-c", CLI_WITH_TINY, *args]``.
CLI_WITH_TINY = "import sys, job_plugin; job_plugin.register(); sys.argv[0] = 'skinbench'; from skinbench.cli import main; main()"


def _application(*, include_top: bool, weights, input_shape, input_tensor):
    import keras

    if weights is not None:
        raise ValueError("the tiny backbone has no pretrained weights")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="tiny_conv1")(input_tensor)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="tiny_features")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="tiny_pool")(x)
        x = keras.layers.Dense(10, name="tiny_top")(x)
    return keras.Model(input_tensor, x, name="tiny")


def register(patch: pytest.MonkeyPatch | None = None) -> None:
    """Make ``tiny`` a backbone of this process; with ``patch``, until that patch is undone."""
    from skinbench.catalogue import BACKBONES, Backbone, CutPoint

    setitem = patch.setitem if patch else operator.setitem
    setitem(BACKBONES, NAME, Backbone(NAME, "Tiny", 32, _application, "tf", CutPoint("tiny_features")))


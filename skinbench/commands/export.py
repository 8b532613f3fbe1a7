"""`skinbench export`: a kept cell as TFLite (float32, float16, int8) or a SavedModel, measured on this CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from skinbench import catalogue
from skinbench.commands.common import guarded
from skinbench.commands.options import choice_option
from skinbench.console import console


@guarded
def export(
    cell_dir: Annotated[Path, typer.Argument(help="A finished cell's folder (it holds model.keras and inference.json).")],
    fmt: Annotated[
        str,
        choice_option("--format", catalogue.EXPORT_FORMATS, "TFLite in float32, with float16 weights or int8 (calibrated on "
                      "the training part), or a TensorFlow SavedModel.", metavar="FORMAT"),
    ] = "tflite",
    out: Annotated[
        Optional[Path], typer.Option("--out", metavar="FILE", show_default="CELL_DIR/export/model-FORMAT.tflite", help="The file to write.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export of the same format there (nothing else is ever replaced).")
    ] = False,
) -> None:
    """Export, then measure with LiteRT: batch-1 latency (1 and all threads), size, agreement with Keras (beside it as FILE.json).

    Examples:
      skinbench export results/demo/mobilenetv3small-augmented-paper-s0
      skinbench export CELL_DIR --format tflite-int8 --out model-int8.tflite
    """
    from skinbench.deploy.export import export_cell

    export_cell(cell_dir, fmt, out, overwrite=overwrite, log=lambda text: console.print(text, highlight=False, soft_wrap=True))

"""Options shared by several commands, declared once as ``Annotated`` types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="HAM10000 folder (Dataverse/Kaggle or ISIC 2018 Task 3 layout)."),
]
DatasetName = Annotated[
    str,
    typer.Option("--dataset", help="'ham10000' (needs --data-dir) or 'synthetic' (generated on first use)."),
]
ImageSize = Annotated[
    str,
    typer.Option("--image-size", help="'native' (each backbone's own size) or a side length in pixels."),
]
Epochs = Annotated[Optional[int], typer.Option("--epochs", min=1, help="Maximum epochs per cell.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Training batch size.")]
Weights = Annotated[
    str, typer.Option("--weights", help="'imagenet', 'none', or a path to a weights file.")
]
Split = Annotated[
    str,
    typer.Option("--split", help="'paper' (stratified 90/10, validation is reported) or 'lesion' (grouped by lesion_id, 70/15/15)."),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for splits, shuffling and initialisation.")]
Seeds = Annotated[Optional[str], typer.Option("--seeds", help="Comma-separated seeds, e.g. 0,1,2 (overrides --seed).")]
Out = Annotated[Optional[Path], typer.Option("--out", help="Results folder (default: results/<run-name>).")]
Quiet = Annotated[bool, typer.Option("--quiet", help="Plain log lines instead of live progress bars.")]
Backbones = Annotated[
    Optional[str], typer.Option("--backbones", help="Comma-separated backbone names (see 'skinbench models').")
]
Precision = Annotated[str, typer.Option("--precision", help="'float32' or 'mixed' (float16 on GPU, bfloat16 elsewhere).")]
Jit = Annotated[bool, typer.Option("--jit/--no-jit", help="Compile the training step with XLA.")]
TableFormat = Annotated[str, typer.Option("--format", help="'table', 'markdown' or 'csv'.")]
Attention = Annotated[
    str,
    typer.Option("--attention", help="Soft attention: 'paper' (the paper's text, default) or 'reference' (the public code's exact layer)."),
]
Strict = Annotated[
    bool,
    typer.Option("--strict", help="Stop on unreadable images instead of leaving them out (they are named either way)."),
]

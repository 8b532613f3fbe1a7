"""Options shared by several commands, declared once as ``Annotated`` types.

Every option with a fixed set of values is made by :func:`choice_option` (one value) or
:func:`choice_list_option` (comma-separated values) from a tuple of ``skinbench.catalogue``
(or the keys of ``config.SCHEDULES``): ``--help`` lists the choices, and the parser
refuses anything else before a command imports Keras, TensorFlow or JAX, the way every user
error ends: ``catalogue.check_choice``'s message on one line, exit status 2. The command
receives a plain ``str``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Optional, Sequence, get_args

import typer
from rich.markup import escape

from skinbench import catalogue
from skinbench.commands.common import exit_with
from skinbench.errors import RunError

# The panels of `skinbench run --help` and `skinbench ablate mobilenetv3 --help`.
DATA = "Data"
MODEL = "Model"
TRAINING = "Training"
EXECUTION = "Execution"
OUTPUT = "Output"


class _Choice:
    """Parses one of ``choices`` (exact spelling)."""

    def __init__(self, option: str, choices: Sequence[str]) -> None:
        self.option, self.choices = option, tuple(choices)

    def __call__(self, value: Any) -> str:
        try:
            return catalogue.check_choice(self.option, value, self.choices)
        except RunError as exc:
            exit_with(exc)


class _ChoiceList(_Choice):
    """Parses comma-separated ``choices`` (any case) into a normalised ``"a,b"`` string,
    as the library's ``config.parse_list`` reads it."""

    def __call__(self, value: Any) -> str:
        names = [part.strip().lower() for part in str(value).split(",") if part.strip()]
        for name in names or [value]:
            super().__call__(name)
        return ",".join(names)


def with_choices(help: str, choices: Sequence[str]) -> str:
    """``help`` ending with the choices, listed as the refusal lists them (wrapping between them)."""
    listed = ", ".join(choices)
    return f"{help} {escape(f'[choices: {listed}]')}"


def choice_option(option: str, choices: Sequence[str], help: str, metavar: str = "NAME", **extra: Any) -> Any:
    """A ``typer.Option`` taking one of ``choices``."""
    return typer.Option(option, parser=_Choice(option, choices), metavar=metavar, help=with_choices(help, choices),
                        **extra)


def choice_list_option(option: str, choices: Sequence[str], help: str, metavar: str = "NAME,...", **extra: Any) -> Any:
    """A ``typer.Option`` taking a comma-separated list of ``choices``."""
    return typer.Option(option, parser=_ChoiceList(option, choices), metavar=metavar, help=with_choices(help, choices),
                        **extra)


def in_panel(option: Any, panel: str, default: str | None = None) -> Any:
    """The same ``Annotated`` option, listed under ``panel`` in ``--help``; ``default`` describes
    a default that is not a value (``[default: (the schedule's)]``)."""
    kind, info = get_args(option)[:2]
    info = copy.copy(info)
    info.rich_help_panel = panel
    if default is not None:
        info.show_default = default
    return Annotated[kind, info]


DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", metavar="FOLDER", help="HAM10000 folder (Dataverse/Kaggle or ISIC 2018 Task 3 layout)."),
]
DatasetName = Annotated[
    Optional[str],
    choice_option(
        "--dataset", catalogue.DATASETS, "'ham10000' (needs --data-dir) or 'synthetic' (generated on first use)."
    ),
]
ImageSize = Annotated[
    str,
    typer.Option("--image-size", metavar="SIZE", help="'native' (each backbone's own size) or a side length in pixels."),
]
Epochs = Annotated[Optional[int], typer.Option("--epochs", metavar="N", min=1, help="Maximum epochs per cell.")]
BatchSize = Annotated[int, typer.Option("--batch-size", metavar="N", min=1, help="Training batch size.")]
Weights = Annotated[
    str, typer.Option("--weights", metavar="WEIGHTS", help="'imagenet', 'none', or a path to a weights file.")
]
Split = Annotated[
    str,
    choice_option(
        "--split",
        catalogue.SPLITS,
        "'paper' (stratified 90/10, validation is reported), 'leaky' (stratified image by image, 70/15/15, test is "
        "reported), 'lesion' (grouped by lesion_id, 70/15/15, test is reported) or 'official' (train on HAM10000, "
        "select on a lesion-grouped part of it, report on the ISIC 2018 Task 3 test set).",
    ),
]
Seed = Annotated[int, typer.Option("--seed", metavar="N", help="Seed for splits, shuffling and initialisation.")]
Seeds = Annotated[Optional[str], typer.Option("--seeds", metavar="N,...", help="Comma-separated seeds, e.g. 0,1,2 (overrides --seed).")]
Out = Annotated[Optional[Path], typer.Option("--out", metavar="FOLDER", help="Results folder.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="Plain log lines instead of live progress bars.")]
Backbones = Annotated[
    Optional[str], typer.Option("--backbones", metavar="NAME,...", help="Comma-separated backbone names (see 'skinbench models').")
]
Precision = Annotated[
    Optional[str],
    choice_option(
        "--precision", catalogue.PRECISIONS,
        "'float32'; 'mixed' (bfloat16 on GPUs of compute capability 8.0+ and CPUs, float16 before); "
        "'mixed_float16' or 'mixed_bfloat16' explicitly; 'auto' (the policy measured fastest for the backbone on "
        "this GPU, else float32).",
    ),
]
Jit = Annotated[bool, typer.Option("--jit/--no-jit", help="Compile the training step with XLA.")]
TableFormat = Annotated[
    str, choice_option("--format", catalogue.TABLE_FORMATS, "How to print the table: a rich table, Markdown or CSV.", metavar="FORMAT")
]
Attention = Annotated[
    str,
    choice_option(
        "--attention",
        catalogue.ATTENTION_VARIANTS,
        "Soft attention: 'paper' (the paper's text) or 'reference' (the public code's exact layer).",
    ),
]
Strict = Annotated[
    bool,
    typer.Option("--strict", help="Stop on unreadable images instead of leaving them out (they are named either way)."),
]

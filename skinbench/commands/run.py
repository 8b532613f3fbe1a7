"""`skinbench run` and `skinbench ablate`."""

import typer

ablate_app = typer.Typer(help="Ablation studies.", no_args_is_help=True)


def run() -> None:
    """Train a matrix of cells."""
    raise NotImplementedError

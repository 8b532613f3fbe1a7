"""The ``skinbench`` command line: a thin Typer layer over the library.

Each command lives in its own module under ``skinbench.commands`` and calls one library
function; this module only registers them. Heavy imports (Keras, TensorFlow) happen inside
the commands, so ``skinbench --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from skinbench.version import __version__
from skinbench.commands import bench, data, datasets, evaluate, explain, export, models, predict, report, run
from skinbench.commands import status as status_command
from skinbench.commands import compare as compare_command
from skinbench.commands.helpformat import App

app = App(
    name="skinbench",
    help="""Benchmark ImageNet backbones with Soft-Attention on HAM10000 skin-lesion images.

    Examples:
      skinbench run --matrix smoke
      skinbench data fetch data/
      skinbench run --help
    """,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
data.app.command("audit")(datasets.audit)
data.app.command("synth-external")(datasets.synth_external)
app.add_typer(data.app, name="data")
app.command("models")(models.models)
app.command("run")(run.run)
app.add_typer(run.ablate_app, name="ablate")
app.command("status")(status_command.status)
app.command("report")(report.report)
app.command("compare")(compare_command.compare)
app.command("bench")(bench.bench)
app.command("predict")(predict.predict)
app.command("evaluate")(evaluate.evaluate)
app.command("export")(export.export)
app.command("explain")(explain.explain)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"skinbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Benchmark ImageNet backbones with Soft-Attention on HAM10000 skin-lesion images."""


def main() -> None:
    """Console-script entry point."""
    app()

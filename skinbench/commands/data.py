"""`skinbench data ...`: check a HAM10000 folder, generate the synthetic one."""

import typer

app = typer.Typer(help="Check a HAM10000 folder or generate the synthetic stand-in.", no_args_is_help=True)

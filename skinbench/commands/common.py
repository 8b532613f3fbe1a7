"""What every command shares: turning user errors and Ctrl-C into clean exits."""

from __future__ import annotations

import functools
from typing import Callable, NoReturn, TypeVar

import typer
from rich.markup import escape

from skinbench.console import err_console
from skinbench.errors import SkinbenchError

F = TypeVar("F", bound=Callable)

INTERRUPTED_EXIT = 130


def guarded(func: F) -> F:
    """Run a command; a SkinbenchError becomes one red line and its exit code.

    Ctrl-C exits with 130 after saying that finished work is kept (every result file is
    written atomically, so nothing half-written is left behind).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SkinbenchError as exc:
            exit_with(exc)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: finished work is kept; run the same command again to resume.")
            raise typer.Exit(INTERRUPTED_EXIT) from None

    return wrapper  # type: ignore[return-value]


def exit_with(error: SkinbenchError) -> NoReturn:
    """Print ``error`` as one red line on stderr and exit with its code (what every user error does)."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code) from None

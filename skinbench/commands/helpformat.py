"""How every command's ``--help`` reads: ``-h`` as ``--help``, values as words, the Options panel last.

Typer labels a value by its Python type (``<str>``, ``<bool>``, ``<list[Path]>``), writes a
required argument as ``{run_dir}`` and prints the panel of options without a panel of their own
("Options", where ``--help`` is) before the named panels. ``App`` makes every command a
``Command`` (and every group a ``Group``) that instead:

- shows no value for a flag (``--quiet``, not ``--quiet <bool>``);
- names an argument in capitals (``RUN_DIR``, or its ``metavar``) with no type beside it, in the
  usage line (``[IMAGES]...`` when optional) and in its panel;
- prints the Options panel after the named ones (Data, Model, ... in ``skinbench run --help``);
- ends with the examples: a docstring's last paragraph, headed ``Examples:``, is printed after the
  panels (as Typer's epilog).

An option that takes a value says what in its ``metavar`` (FOLDER, N, NAME); a test checks no
help shows a Python type.
"""

from __future__ import annotations

import inspect
import re
from contextlib import contextmanager
from typing import Any, Iterator

import typer
from typer import rich_utils
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

#: ``-h`` is ``--help`` on every command (subcommands inherit the root's context settings).
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
#: The title of the panel of options listed under no other.
OPTIONS_PANEL = rich_utils.OPTIONS_PANEL_TITLE


#: The line that heads a docstring's examples.
_EXAMPLES = re.compile(r"^Examples:$", re.MULTILINE)


def split_examples(help: str | None) -> tuple[str | None, str | None]:
    """``help`` without its examples, and the examples as an epilog (None when there are none)."""
    text = inspect.cleandoc(help or "")
    found = _EXAMPLES.search(text)
    if found is None:
        return help, None
    lines = text[found.end():].strip("\n")
    return text[: found.start()].rstrip(), f"[bold]Examples[/]\n{lines}"


class _WordArgument(TyperArgument):
    """An argument shown by its name in capitals (or its metavar), with no Python type beside it."""

    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


def _as_words(params: list[Any]) -> list[Any]:
    """``params``, given the look described in the module docstring (in place)."""
    for param in params:
        if isinstance(param, TyperArgument):
            param.__class__ = _WordArgument  # same fields; only how it is shown changes
        elif isinstance(param, TyperOption):
            if param.is_flag and param.metavar is None:
                param.metavar = ""  # a flag takes no value: show none
            if getattr(param, "rich_help_panel", None) is None:
                param.rich_help_panel = OPTIONS_PANEL
    return params


@contextmanager
def _options_panel_in_order() -> Iterator[None]:
    """While help is printed, Typer's unnamed-panel slot (printed first) is left empty, so the
    Options panel, now a named one, is printed in the order of its options: after the rest."""
    saved = rich_utils.OPTIONS_PANEL_TITLE
    rich_utils.OPTIONS_PANEL_TITLE = "\0unnamed"
    try:
        yield
    finally:
        rich_utils.OPTIONS_PANEL_TITLE = saved


class Command(TyperCommand):
    """A Typer command whose help reads as words, its Options panel last, its examples at the end."""

    def __init__(self, name: str | None, *, help: str | None = None, epilog: str | None = None, **kwargs: Any) -> None:
        if epilog is None:
            help, epilog = split_examples(help)
        super().__init__(name, help=help, epilog=epilog, **kwargs)

    def get_params(self, ctx: Any) -> list[Any]:
        return _as_words(super().get_params(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _options_panel_in_order():
            super().format_help(ctx, formatter)


class Group(TyperGroup):
    """A Typer group whose help reads as words (its commands are listed after its options), its
    examples at the end."""

    def __init__(self, *, help: str | None = None, epilog: str | None = None, **kwargs: Any) -> None:
        if epilog is None:
            help, epilog = split_examples(help)
        super().__init__(help=help, epilog=epilog, **kwargs)

    def get_params(self, ctx: Any) -> list[Any]:
        return _as_words(super().get_params(ctx))


class App(typer.Typer):
    """``typer.Typer`` whose commands are ``Command`` and groups ``Group``, with ``-h``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        kwargs.setdefault("rich_markup_mode", "rich")
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type | None = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or Command, **kwargs)

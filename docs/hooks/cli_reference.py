"""MkDocs hook: the command reference (docs/reference/cli.md) generated from the CLI itself.

The page holds one marker, ``<!-- cli-reference -->``, replaced at build time by every command's
description and options as Typer declares them, so the reference cannot drift from the code.
"""

from __future__ import annotations

import typer

MARKER = "<!-- cli-reference -->"


def _commands(group, prefix: str = "skinbench"):
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if hasattr(command, "list_commands"):  # a group (Typer may vendor its own Click classes)
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _option(param) -> tuple[str, str, str, str]:
    flags = " / ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
    argument = param.param_type_name == "argument"
    if argument:
        flags = f"`{param.name.upper()}` (argument)"
    default = param.default if not callable(param.default) else None
    shown = "" if default in (None, (), [], False) or argument else f"`{default}`"
    return flags, _cell(getattr(param, "help", "") or ""), shown, "yes" if param.required else ""


def reference() -> str:
    from skinbench.cli import app

    lines = []
    for name, command in _commands(typer.main.get_command(app)):
        lines += [f"## `{name}`", "", _cell((command.help or "").split("\n\n")[0]), ""]
        rest = "\n\n".join((command.help or "").split("\n\n")[1:]).strip()
        if rest:
            lines += [rest, ""]
        params = [p for p in command.params if p.name != "help"]
        if params:
            lines += ["| option | what it does | default | required |", "|---|---|---|---|"]
            lines += ["| " + " | ".join(_option(p)) + " |" for p in params]
            lines.append("")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_) -> str:
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown

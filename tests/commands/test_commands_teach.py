"""Every command's help teaches: `-h` works, values read as words, choices listed, examples at the end."""

from __future__ import annotations

import re


import pytest
import typer
from typer.testing import CliRunner

from skinbench import catalogue
from skinbench.cli import app


def _commands(group: typer.core.TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command and group under ``group``, itself included."""
    found = [path]
    if hasattr(group, "list_commands"):
        ctx = typer.Context(group)
        for name in group.list_commands(ctx):
            found += _commands(group.get_command(ctx, name), (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def _help(path: tuple[str, ...], flag: str = "--help", columns: int = 80) -> str:
    result = CliRunner().invoke(app, [*path, flag], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_covered() -> None:
    assert {("run",), ("data", "fetch"), ("ablate", "mobilenetv3"), ("status",), ("compare",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_h_is_help(path: tuple[str, ...]) -> None:
    assert _help(path, "-h") == _help(path, "--help")


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_ends_with_examples_of_the_command(path: tuple[str, ...]) -> None:
    lines = [line.strip() for line in _help(path).rstrip().splitlines()]
    heading = max(i for i, line in enumerate(lines) if line == "Examples")
    examples = lines[heading + 1:]
    assert 2 <= len(examples) <= 3, examples
    for example in examples:
        assert example.startswith(" ".join(("skinbench", *path))), example


#: What Typer shows for a value by its Python type, and for a required argument.
PYTHON_TYPES = re.compile(r"<(str|bool|int|float|path|list\[|file|directory)[^>]*>|\{[a-z_]+\}")


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_values_read_as_words(path: tuple[str, ...]) -> None:
    output = _help(path, columns=200)
    assert not PYTHON_TYPES.search(output), PYTHON_TYPES.search(output)[0]
    for flag in ("--quiet", "--strict", "--watch", "--dry-run", "--help"):
        row = re.search(rf"│ {flag} +(-h +)?(\S+)", output)
        if row:  # a flag takes no value: its help follows
            assert not row[2].isupper(), row[0]


def test_usage_names_arguments_in_capitals() -> None:
    assert "Usage: skinbench status [OPTIONS] RUN_DIR" in _help(("status",))
    assert "CELL_DIR [IMAGES]..." in _help(("predict",))


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_the_options_panel_comes_last(path: tuple[str, ...]) -> None:
    titles = re.findall(r"╭─ (.+?) ─", _help(path, columns=120))
    options = [t for t in titles if t != "Commands"]
    assert options[-1] == "Options", titles


def _words(text: str) -> set[str]:
    """The words of a help text, borders left out."""
    return {word for word in text.split() if not set(word) <= set("╭╮╰╯│─")}


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_no_word_is_broken_at_80_columns(path: tuple[str, ...]) -> None:
    """At 80 columns every word is one the wide help has: nothing folded mid-word or cut."""
    broken = _words(_help(path, columns=80)) - _words(_help(path, columns=300))
    assert not broken, broken


@pytest.mark.parametrize(
    "path, option, choices",
    [
        (("run",), "--split", catalogue.SPLITS),
        (("run",), "--precision", catalogue.PRECISIONS),
        (("run",), "--executor", catalogue.EXECUTORS),
        (("data", "fetch"), "--source", catalogue.FETCH_SOURCES),
        (("export",), "--format", catalogue.EXPORT_FORMATS),
        (("models",), "--format", catalogue.TABLE_FORMATS),
    ],
)
def test_choices_are_listed_whole(path: tuple[str, ...], option: str, choices: tuple[str, ...]) -> None:
    text = " ".join(_help(path, columns=80).replace("│", " ").split())
    assert f"[choices: {', '.join(choices)}]" in text, option


def test_defaults_are_shown_one_way() -> None:
    """A default is the tag after the help, never prose inside it."""
    for path in COMMANDS:
        text = " ".join(_help(path, columns=200).replace("│", " ").split())
        assert not re.search(r"\(default[ :]|Default:", text), (path, re.search(r".{40}\(default[ :].{40}", text))
    run = " ".join(_help(("run",), columns=200).replace("│", " ").split())
    assert "[default: (the schedule's cap;" in run and "[default: paper]" in run


def test_fetch_source_lists_the_shipped_manifests_sources() -> None:
    import json

    from skinbench.data.fetch import MANIFEST

    assert tuple(json.loads(MANIFEST.read_text())["sources"]) == catalogue.FETCH_SOURCES

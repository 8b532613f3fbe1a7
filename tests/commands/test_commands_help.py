"""`--help` of `run` and `ablate mobilenetv3`: options in panels, choices listed."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from skinbench.cli import app

PANELS = ("Data", "Model", "Training", "Execution", "Output")

#: Where each option of both commands is listed.
RUN_PANELS = {
    "Data": ("--dataset", "--data-dir", "--split", "--strict"),
    "Model": ("--matrix", "--backbones", "--recipes", "--image-size", "--weights", "--attention"),
    "Training": ("--epochs", "--batch-size", "--schedule", "--deterministic", "--seeds", "--seed"),
    "Execution": ("--precision", "--jit", "--shard"),
    "Output": ("--out", "--quiet"),
}
ABLATE_PANELS = {**RUN_PANELS, "Model": ("--cuts", "--smoke", "--image-size", "--weights", "--attention")}


def _panels(output: str) -> dict[str, str]:
    """Each panel's title and the text in it, in order."""
    panels, title = {}, None
    for line in output.splitlines():
        opening = re.match(r"\s*╭─ (.+?) ─", line)
        if opening:
            title = opening[1]
            panels[title] = ""
        elif title is not None:
            panels[title] += line + "\n"
    return panels


@pytest.mark.parametrize("command, expected", [(["run"], RUN_PANELS), (["ablate", "mobilenetv3"], ABLATE_PANELS)])
def test_options_are_grouped_in_panels(command: list[str], expected: dict) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    panels = _panels(result.output)
    assert [title for title in panels if title in PANELS] == list(PANELS)
    for title, options in expected.items():
        listed = re.findall(r"(--[a-z][a-z0-9-]*)", panels[title])
        for option in options:
            assert option in listed, f"{option} not in the {title} panel"


def _flat(output: str) -> str:
    """The help's words on one line, borders left out (a list of choices may wrap)."""
    return " ".join(output.replace("│", " ").split())


def test_run_help_lists_the_choices() -> None:
    output = _flat(CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "120"}).output)
    for choices in ("paper, leaky, lesion", "float32, mixed", "paper, reference", "ham10000, synthetic",
                    "full, paper, modern, all, smoke", "paper, code", "augmented, metadata"):
        assert f"[choices: {choices}" in output, choices


def test_bench_and_models_help_list_the_choices() -> None:
    bench = _flat(CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "300"}).output)
    assert "[choices: float32, mixed, mixed_float16, mixed_bfloat16, auto, both]" in bench
    assert "[choices: augmented, metadata]" in bench and "[choices: table, markdown, csv]" in bench
    models = _flat(CliRunner().invoke(app, ["models", "--help"], env={"COLUMNS": "120"}).output)
    assert "[choices: table, markdown, csv]" in models

"""`skinbench models`."""

from __future__ import annotations

import io

import pandas as pd
from typer.testing import CliRunner

from skinbench.cli import app

runner = CliRunner()


def test_csv_has_measured_and_paper_values() -> None:
    result = runner.invoke(app, ["models", "--backbones", "MobileNetV3Small", "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    row = table.iloc[0]
    assert (row["backbone"], row["params"], row["depth"]) == ("mobilenetv3small", 2_554_968, 88)
    assert (row["paper_params_m"], row["paper_depth"]) == (2.5, 88)
    assert row["flops"] == 2 * row["macs"]


def test_markdown_and_table_formats() -> None:
    markdown = runner.invoke(app, ["models", "--backbones", "mobilenetv3small", "--format", "markdown"])
    assert markdown.exit_code == 0, markdown.output
    assert "| MobileNetV3Small" in markdown.stdout and "paper params (M)" in markdown.stdout
    table = runner.invoke(app, ["models", "--backbones", "mobilenetv3small"])
    assert table.exit_code == 0, table.output
    assert "MobileNetV3Small" in table.stdout and "2.6 (2.5)" in table.stdout


def test_bad_options_are_one_line_errors() -> None:
    for args, message in ((["--backbones", "resnet18"], "unknown backbone"), (["--format", "html"], "--format must be one of table, markdown, csv")):
        result = runner.invoke(app, ["models", *args])
        assert result.exit_code == 2
        assert message in result.output and "Traceback" not in result.output

"""One run specification: every field is an option of `run`, a file round-trips, flags override a
file, `ablate` is `run` with an ablation, and a run from a file writes what the same flags write."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from skinbench.cli import app
from skinbench.commands.run import MATRIX_ONLY, OPTIONS
from skinbench.errors import RunError
from skinbench.spec import OPTION_SECTION, SECTIONS, ExecutionSection, RunSpec, read_options, tomllib


def _params(*command: str) -> dict[str, click.Parameter]:
    group = typer.main.get_command(app)
    ctx = click.Context(group)
    for name in command:
        group = group.get_command(ctx, name)
    return {param.name: param for param in group.params}


def test_every_field_is_one_option_of_run_and_ablate_shares_them() -> None:
    run, ablate = _params("run"), _params("ablate", "mobilenetv3")
    actions = {"config_file", "print_config", "dry_run"}
    assert set(OPTIONS) == set(OPTION_SECTION)  # one option per field, no option without a field
    assert set(run) == set(OPTION_SECTION) | actions
    assert set(ablate) == set(run) - MATRIX_ONLY  # ablate is run less the matrix it replaces
    for name, param in ablate.items():  # the same option: same flags, same help
        assert (param.opts, param.help) == (run[name].opts, run[name].help), name


def test_a_specification_survives_a_file_round_trip(tmp_path: Path) -> None:
    spec = RunSpec.from_options(
        dataset="synthetic", split="lesion", matrix="demo", backbones="mobilenetv3small", seeds="0,1", image_size="64",
        bn_momentum=0.9, schedule="code", epochs=3, batch_size=8, precision="mixed", gradient_accumulation=2,
        executor="slurm", slurm_option=("account=x", "qos=high"), time_limit="1:00:00", out=Path("results/x"),
        keep_models=False,
    )
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml())
    assert RunSpec.from_options(**read_options(path)) == spec
    assert set(tomllib.loads(path.read_text())) == set(SECTIONS)
    assert RunSpec.from_options(**spec.options()) == spec
    assert spec.execution.slurm_option == ("account=x", "qos=high") and spec.execution.out == Path("results/x")


def test_print_config_round_trips_and_flags_override_the_file(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--matrix", "smoke", "--dataset", "synthetic", "--epochs", "3", "--seeds", "0,2",
                                "--slurm-option", "qos=high", "--print-config"])
    assert first.exit_code == 0, first.output
    path = tmp_path / "study.toml"
    path.write_text(first.stdout)
    again = runner.invoke(app, ["run", "--config", str(path), "--print-config"])
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout
    override = runner.invoke(app, ["run", "--config", str(path), "--epochs", "7", "--print-config"])
    assert tomllib.loads(override.stdout)["training"]["epochs"] == 7
    assert tomllib.loads(override.stdout)["matrix"]["seeds"] == "0,2"  # the rest from the file


def test_yaml_and_lists_are_read(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("matrix:\n  matrix: smoke\n  seeds: [0, 1, 2]\ntraining:\n  epochs: 2\n")
    assert read_options(path) == {"matrix": "smoke", "seeds": "0,1,2", "epochs": 2}


@pytest.mark.parametrize(
    "text, message",
    [
        ("[training]\nepoch = 3\n", r"\[training\] has no option 'epoch'"),
        ("[model]\nepochs = 3\n", r"\[model\] has no option 'epochs' \(it belongs in \[training\]\)"),
        ("[train]\nepochs = 3\n", r"unknown section \[train\]"),
        ("[training\n", "is not valid TOML"),
    ],
)
def test_a_bad_file_is_one_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "study.toml"
    path.write_text(text)
    with pytest.raises(RunError, match=message):
        read_options(path)
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--print-config"])
    assert result.exit_code == 2 and "--config" in result.output and path.name in result.output


def test_a_wrong_value_in_a_file_is_named_by_its_flag(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text('[training]\nepochs = "ten"\n')
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--print-config"])
    assert result.exit_code == 2 and "--epochs" in result.output


def test_ablate_is_run_with_an_ablation() -> None:
    runner = CliRunner()
    ablate = runner.invoke(app, ["ablate", "mobilenetv3", "--smoke", "--dataset", "synthetic", "--print-config"])
    run = runner.invoke(app, ["run", "--ablation", "mobilenetv3", "--smoke", "--dataset", "synthetic", "--print-config"])
    assert ablate.exit_code == run.exit_code == 0, ablate.output + run.output
    assert ablate.stdout == run.stdout and tomllib.loads(run.stdout)["matrix"]["ablation"] == "mobilenetv3"


def test_execution_defaults_are_the_fields() -> None:
    run = _params("run")
    for field in dataclasses.fields(ExecutionSection):
        expected = None if field.default == () else field.default
        assert run[field.name].default == expected, field.name


#: A wrong specification, the fields its error names, and the same mistake on the command line.
WRONG = [
    ({"matrix": "smoke", "weights": "no-such-weights.h5"}, ("model.weights",),
     ["run", "--matrix", "smoke", "--weights", "no-such-weights.h5"]),
    ({"matrix": "smoke", "seeds": "0,x"}, ("matrix.seeds",), ["run", "--matrix", "smoke", "--seeds", "0,x"]),
    ({"matrix": "smoke", "gradient_accumulation": 5}, ("training.gradient_accumulation", "training.batch_size"),
     ["run", "--matrix", "smoke", "--gradient-accumulation", "5"]),
    ({"ablation": "mobilenetv3", "smoke": True, "cuts": "231"}, ("matrix.cuts",),
     ["ablate", "mobilenetv3", "--smoke", "--cuts", "231"]),
    ({"matrix": "smoke", "executor": "local", "partition": "gpu"}, ("execution.partition", "execution.executor"),
     ["run", "--matrix", "smoke", "--executor", "local", "--partition", "gpu"]),
    ({"matrix": "smoke", "cuts": "230"}, ("matrix.cuts", "matrix.smoke", "matrix.ablation"),
     ["run", "--matrix", "smoke", "--cuts", "230"]),
]


@pytest.mark.parametrize("options, fields, args", WRONG, ids=lambda value: None)
def test_the_library_names_fields_and_the_command_line_their_flags(
    options: dict, fields: tuple[str, ...], args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import skinbench
    from skinbench.commands.run import FLAGS

    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError) as refused:
        skinbench.run(RunSpec.from_options(**options))
    said = str(refused.value)
    assert refused.value.fields == fields
    assert all(field in said for field in fields) and "--" not in said, said

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    line = " ".join(result.output.split())
    assert line == "error: " + " ".join(refused.value.named(FLAGS).split())  # the same sentence, in flags
    assert all(FLAGS[field] in line for field in fields) and not any(field in line for field in fields), line
    assert not list(tmp_path.iterdir())  # refused before anything was written

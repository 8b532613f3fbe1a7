"""Options with a fixed set of values: refused by the parser, with one message, before any heavy import."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
from typer.testing import CliRunner

from skinbench import catalogue, config
from skinbench.cli import app
from skinbench.errors import RunError

HEAVY = ("tensorflow", "keras", "jax")

#: Imports the CLI, refuses the arguments, and reports the exit code, the output, the time
#: taken (imports included) and which heavy modules got imported.
REFUSE = """
import json, sys, time
start = time.perf_counter()
from typer.testing import CliRunner
from skinbench.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({
    "exit_code": result.exit_code,
    "output": result.output,
    "seconds": time.perf_counter() - start,
    "heavy": [name for name in %r if name in sys.modules],
}))
""" % (HEAVY,)


def _refuse_in_fresh_process(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", REFUSE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _error(output: str) -> str:
    """The one line a refused command prints (every skinbench user error is one line)."""
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["run", "--precision", "half"], "--precision must be one of float32, mixed, mixed_float16, mixed_bfloat16, auto, not 'half'"),
        (["run", "--split", "lsion"], "--split must be one of paper, leaky, lesion, official, not 'lsion'"),
    ],
)
def test_bad_choice_is_refused_fast_without_heavy_imports(args: list[str], expected: str) -> None:
    report = _refuse_in_fresh_process(args)
    assert report["exit_code"] == 2, report["output"]
    assert _error(report["output"]) == f"error: {expected}"
    assert report["heavy"] == []
    assert report["seconds"] < 1.0, f"refusing {args} took {report['seconds']:.2f} s"


@pytest.mark.parametrize(
    "args, start",
    [
        (["run", "--shard", "3/2"], "error: --shard 3/2"),
        (["run", "--seeds", "a,b"], "error: --seeds"),
        (["run", "--dataset", "synthetic", "--data-dir", "."], "error: --data-dir is for --dataset ham10000"),
        (["ablate", "mobilenetv3", "--cuts", "x"], "error: --cuts"),
    ],
)
def test_options_the_library_checks_are_refused_before_heavy_imports(args: list[str], start: str) -> None:
    report = _refuse_in_fresh_process(args)
    assert report["exit_code"] == 2, report["output"]
    assert _error(report["output"]).startswith(start)
    assert report["heavy"] == []


# Every option with a fixed set of values, on every command that has it: the parser refuses a
# wrong value with catalogue.check_choice's message, listing the valid ones.
CHOICES = [
    (["run"], "--split", catalogue.SPLITS),
    (["run"], "--precision", catalogue.PRECISIONS),
    (["run"], "--attention", catalogue.ATTENTION_VARIANTS),
    (["run"], "--dataset", catalogue.DATASETS),
    (["run"], "--matrix", config.MATRICES.names()),
    (["run"], "--schedule", config.SCHEDULE_NAMES),
    (["run"], "--recipes", catalogue.RECIPE_NAMES),
    (["ablate", "mobilenetv3"], "--split", catalogue.SPLITS),
    (["ablate", "mobilenetv3"], "--precision", catalogue.PRECISIONS),
    (["ablate", "mobilenetv3"], "--attention", catalogue.ATTENTION_VARIANTS),
    (["ablate", "mobilenetv3"], "--dataset", catalogue.DATASETS),
    (["ablate", "mobilenetv3"], "--schedule", config.SCHEDULE_NAMES),
    (["bench"], "--precision", (*catalogue.PRECISIONS, "both")),
    (["bench"], "--recipe", catalogue.RECIPE_NAMES),
    (["bench"], "--format", catalogue.TABLE_FORMATS),
    (["models"], "--format", catalogue.TABLE_FORMATS),
]


@pytest.mark.parametrize("command, option, choices", CHOICES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_every_choice_is_refused_with_the_same_message(command: list[str], option: str, choices: tuple) -> None:
    result = CliRunner().invoke(app, [*command, option, "bogus"])
    assert result.exit_code == 2, result.output
    assert _error(result.output) == f"error: {option} must be one of {', '.join(choices)}, not 'bogus'"


@pytest.mark.parametrize("value", ["metadata,bogus", ",", ""])
def test_recipes_refuses_any_unknown_or_an_empty_list(value: str) -> None:
    result = CliRunner().invoke(app, ["run", "--recipes", value])
    assert result.exit_code == 2, result.output
    assert _error(result.output).startswith("error: --recipes must be one of augmented, metadata, not ")


def test_choices_are_case_sensitive_like_the_catalogue() -> None:
    result = CliRunner().invoke(app, ["run", "--split", "Paper"])
    assert result.exit_code == 2
    assert _error(result.output) == "error: --split must be one of paper, leaky, lesion, official, not 'Paper'"


def test_refusals_read_like_the_librarys_own_errors() -> None:
    """A value the parser refuses and one the library refuses end the same way."""
    parser = CliRunner().invoke(app, ["run", "--split", "random"])
    library = CliRunner().invoke(app, ["run", "--shard", "3/2"])
    assert parser.exit_code == library.exit_code == 2
    assert _error(parser.output) == "error: --split must be one of paper, leaky, lesion, official, not 'random'"
    assert _error(library.output).startswith("error: --shard 3/2")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict:
    """Run `run` and `ablate mobilenetv3` up to training: what they hand the runner."""
    from skinbench.train.resolve import resolve

    seen: dict = {}
    runner = types.ModuleType("skinbench.train.runner")

    def run_cells(spec, cells, out, **options):
        resolved = resolve(spec)  # as the runner does
        seen.update(spec=spec, cells=cells, settings=resolved.settings, dataset=resolved.source.name, **options)
        return types.SimpleNamespace(running=[], repaired=[], followed=True, finished=[], skipped=[], out=out)

    runner.run_cells = run_cells
    monkeypatch.setitem(sys.modules, "skinbench.train.runner", runner)
    monkeypatch.chdir(tmp_path)  # the run folder (results/<matrix>) keeps its run.toml here
    return seen


def test_run_hands_the_library_plain_strings(captured: dict) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "--matrix", "smoke", "--recipes", " Metadata ", "--split", "lesion", "--precision", "mixed",
         "--attention", "reference", "--schedule", "code", "--dataset", "synthetic"],
    )
    assert result.exit_code == 0, result.output
    settings = captured["settings"]
    values = (settings.precision, settings.attention, settings.schedule, captured["dataset"])
    assert values == ("mixed", "reference", "code", "synthetic")
    assert all(type(value) is str for value in values)
    assert {(cell.recipe, cell.split) for cell in captured["cells"]} == {("metadata", "lesion")}
    assert all(type(cell.split) is str and type(cell.recipe) is str for cell in captured["cells"])


def test_run_defaults_are_the_catalogues(captured: dict) -> None:
    result = CliRunner().invoke(app, ["run", "--matrix", "smoke", "--dataset", "synthetic"])
    assert result.exit_code == 0, result.output
    settings = captured["settings"]
    assert (settings.precision, settings.attention, settings.schedule) == ("float32", "paper", "paper")
    assert {cell.split for cell in captured["cells"]} == {"paper"}
    assert settings.bn_momentum == 0.9  # the smoke profile's, for random weights


def test_bn_momentum_is_the_backbones_own_unless_given(captured: dict) -> None:
    assert CliRunner().invoke(app, ["run", "--backbones", "resnet50", "--data-dir", ".", "--allow-cpu"]).exit_code == 0
    assert captured["settings"].bn_momentum is None
    result = CliRunner().invoke(app, ["run", "--matrix", "demo", "--dataset", "synthetic", "--bn-momentum", "0.5"])
    assert result.exit_code == 0, result.output
    assert captured["settings"].bn_momentum == 0.5 and captured["settings"].epochs == 5
    result = CliRunner().invoke(app, ["run", "--matrix", "smoke", "--dataset", "synthetic", "--bn-momentum", "1.5"])
    assert result.exit_code == 2 and "--bn-momentum" in result.output


def test_shards_split_the_cells(captured: dict) -> None:
    parts = []
    for shard in ("1/2", "2/2", None):
        result = CliRunner().invoke(app, ["run", "--matrix", "smoke", "--dataset", "synthetic",
                                          *(["--shard", shard] if shard else [])])
        assert result.exit_code == 0, result.output
        parts.append({cell.cell_id for cell in captured["cells"]})
    every = parts.pop()
    assert parts[0] and parts[1] and not parts[0] & parts[1] and parts[0] | parts[1] == every


def test_ablation_hands_the_library_plain_strings(captured: dict) -> None:
    result = CliRunner().invoke(
        app, ["ablate", "mobilenetv3", "--smoke", "--split", "lesion", "--attention", "reference", "--dataset", "synthetic"]
    )
    assert result.exit_code == 0, result.output
    assert {cell.split for cell in captured["cells"]} == {"lesion"} and captured["settings"].attention == "reference"
    assert all(type(cell.split) is str for cell in captured["cells"]) and type(captured["settings"].attention) is str


def test_check_choice_is_the_one_message() -> None:
    assert catalogue.check_choice("--split", "lesion", catalogue.SPLITS) == "lesion"
    with pytest.raises(RunError, match=r"^--split must be one of paper, leaky, lesion, official, not 'lsion'$"):
        catalogue.check_choice("--split", "lsion", catalogue.SPLITS)


def test_print_frame_refuses_an_unknown_format_with_the_same_message() -> None:
    import pandas as pd

    from skinbench.console import print_frame

    with pytest.raises(RunError, match=r"^--format must be one of table, markdown, csv, not 'html'$"):
        print_frame(pd.DataFrame({"a": [1]}), "html")


@pytest.mark.parametrize("matrix", ["smoke", "demo"])
def test_the_smoke_and_demo_matrices_use_the_synthetic_set_unless_data_is_given(captured: dict, tmp_path, matrix: str) -> None:
    assert CliRunner().invoke(app, ["run", "--matrix", matrix]).exit_code == 0
    assert captured["dataset"] == "synthetic"
    result = CliRunner().invoke(app, ["run", "--matrix", matrix, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert captured["dataset"] == "ham10000"
    result = CliRunner().invoke(app, ["run", "--matrix", matrix, "--dataset", "ham10000"])
    assert result.exit_code == 2 and "no HAM10000 folder given" in result.output


def test_the_smoke_ablation_uses_the_synthetic_set(captured: dict) -> None:
    assert CliRunner().invoke(app, ["ablate", "mobilenetv3", "--smoke"]).exit_code == 0
    assert captured["dataset"] == "synthetic"


def test_run_without_data_names_the_problem_and_the_fetch_command_fast() -> None:
    """A new user's first `skinbench run`: one line saying what is missing and how to get it."""
    report = _refuse_in_fresh_process(["run"])
    assert report["exit_code"] == 2, report["output"]
    line = _error(report["output"])
    assert line.startswith("error: no HAM10000 folder given") and "'skinbench data fetch FOLDER'" in line
    assert report["heavy"] == []
    assert report["seconds"] < 3.0, f"took {report['seconds']:.2f} s"


def test_predict_without_metadata_for_a_metadata_model_is_refused_before_the_model_loads(tmp_path) -> None:
    """inference.json says the model takes metadata: refused from it alone (model.keras is not even there)."""
    from skinbench.records import InferenceInfo

    InferenceInfo("model.keras", 1234, "resnet50", 64, "crop", ("akiec", "bcc"),
                  {"age_mean": 50.0, "age_sd": 15.0, "vocabularies": {"sex": ["female", "male"]}}).write(tmp_path)
    report = _refuse_in_fresh_process(["predict", str(tmp_path), "a.jpg"])
    assert report["exit_code"] == 2, report["output"]
    assert f"{tmp_path} is a metadata model: pass --metadata CSV" in " ".join(report["output"].split())
    assert report["heavy"] == []

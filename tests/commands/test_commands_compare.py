"""`skinbench compare` on the report fixture: pairs, their numbers, the CSV, and one clear message for every
pattern that cannot be compared."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from skinbench.cli import app
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.paired import mcnemar
from skinbench.eval.predictions import read_predictions
from skinbench.records import read_split

FIXTURES = Path(__file__).resolve().parents[1] / "report" / "fixtures"
SHARDS = [str(FIXTURES / "shard-a"), str(FIXTURES / "shard-b")]
EXTRA = str(FIXTURES / "shard-c")  # the other ablation rows and lesion-split twins


def _invoke(*args: str):
    return CliRunner().invoke(app, ["compare", *args], env={"COLUMNS": "250"})


def _error(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def _predictions(cell: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shard = next(Path(s) for s in [*SHARDS, EXTRA] if (Path(s) / cell).is_dir())
    return read_predictions(shard / cell / "predictions.csv")


def test_recipes_pair_by_backbone_and_the_csv_holds_the_paired_numbers(tmp_path: Path) -> None:
    out = tmp_path / "compare.csv"
    result = _invoke(*SHARDS, "--a", "*-metadata-*", "--b", "*-augmented-*", "--out", str(out), "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    assert "a - b" in result.output and "McNemar" in result.output and "densenet201-augmented-paper-s0" in result.output
    frame = pd.read_csv(out)
    assert set(zip(frame["a"], frame["b"])) == {("densenet201-metadata-paper-s0", "densenet201-augmented-paper-s0")}
    assert list(frame["metric"]) == ["balanced_accuracy", "accuracy", "macro_f1"]
    ids_a, y_a, probs_a = _predictions("densenet201-metadata-paper-s0")
    ids_b, y_b, probs_b = _predictions("densenet201-augmented-paper-s0")
    assert list(ids_a) == list(ids_b)  # the fixture writes both in one order; pairing is by id either way
    for row in frame.itertuples(index=False):
        expected = compute_metrics(y_a, probs_a)[row.metric] - compute_metrics(y_b, probs_b)[row.metric]
        assert row.difference == pytest.approx(expected, abs=1e-6)
        assert row.ci_low <= row.difference <= row.ci_high
    correct_a, correct_b = probs_a.argmax(1) == y_a, probs_b.argmax(1) == y_b
    only_a, only_b = int((correct_a & ~correct_b).sum()), int((~correct_a & correct_b).sum())
    accuracy = frame.set_index("metric").loc["accuracy"]
    assert (accuracy["a_only_correct"], accuracy["b_only_correct"]) == (only_a, only_b)
    # the fixture's lesions have up to two images: the test of correctness is the clustered one
    lesions = read_split(FIXTURES / "shard-a" / "split-paper-s0.csv").set_index("image_id")["lesion_id"][ids_a]
    assert lesions.duplicated().any() and accuracy["mcnemar_test"] == "clustered"
    assert accuracy["mcnemar_p"] == pytest.approx(mcnemar(correct_a, correct_b, lesions.to_numpy()).p_value, rel=1e-5)
    assert accuracy["mcnemar_p"] != pytest.approx(stats.binomtest(only_a, only_a + only_b).pvalue, rel=1e-3)
    assert "no partner: densenet201-metadata-paper-s1" in result.output  # no augmented cell at seed 1


def test_backbones_pair_by_recipe() -> None:
    result = _invoke(*SHARDS, "--a", "mobilenetv3large-*", "--b", "inceptionresnetv2-*", "--format", "csv", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    csv = result.output.split("no partner")[0]
    frame = pd.read_csv(io.StringIO(csv))
    assert set(zip(frame["a"], frame["b"])) == {("mobilenetv3large-metadata-paper-s0", "inceptionresnetv2-metadata-paper-s0")}
    assert frame["ci_low"].isna().all()  # --bootstrap 0


def test_over_seeds_rows_with_a_t_interval_from_three_seeds(tmp_path: Path) -> None:
    sys.path.insert(0, str(FIXTURES.parent))
    from make_fixture import dataset, split, write_cell

    frame = dataset()
    for seed in (0, 1, 2):
        for row in ("cut240", "plain"):
            write_cell(tmp_path, frame, split(frame, seed), "mobilenetv3large", "metadata", row, seed, "finished")
    out = tmp_path / "compare.csv"
    result = _invoke(str(tmp_path), "--a", "*-cut240-*", "--b", "*-plain-*", "--out", str(out), "--bootstrap", "100")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"seeds": str})
    summary = table[table["seeds"] == "0,1,2"].set_index("metric")
    pairs = table[table["seeds"] != "0,1,2"]
    assert len(pairs) == 9 and list(summary.index) == ["balanced_accuracy", "accuracy", "macro_f1"]
    differences = pairs[pairs["metric"] == "accuracy"]["difference"]
    low, high = stats.t.interval(0.95, 2, loc=differences.mean(), scale=stats.sem(differences))
    assert (summary.loc["accuracy", "t_low"], summary.loc["accuracy", "t_high"]) == pytest.approx((low, high), rel=1e-5)
    assert summary.loc["accuracy", "difference_sd"] == pytest.approx(differences.std(ddof=1), rel=1e-5)
    assert summary.loc["accuracy", "a"] == "mobilenetv3large-ablation-cut240-paper-s{0,1,2}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--a", "resnet9*", "--b", "*-augmented-*"], "error: --a 'resnet9*' matches no cell of "),
        (["--a", "*-metadata-*", "--b", "*lesion*"], "error: --b '*lesion*' matches no cell of "),
        (["--a", "*-metadata-*", "--b", "densenet201-*"], "error: --a and --b both match densenet201-metadata-paper-s0"),
        (["--a", "densenet201-metadata-*-s1", "--b", "*-augmented-*"], "error: no cell of --a has a partner in --b"),
        (["--a", "nasnetmobile-*", "--b", "*-augmented-*"], "error: --a 'nasnetmobile-*' matches only cells that did not finish"),
        (["--a", "*-metadata-paper-*", "--b", "*-lesion-*", EXTRA], "error: --a selects paper-split cells and --b lesion-split"),
        (["--a", "*", "--b", "*", "--format", "wide"], "error: --format must be one of table, markdown, csv, not 'wide'"),
    ],
)
def test_what_cannot_be_compared_is_one_clear_message(args: list[str], message: str) -> None:
    folders = [*SHARDS, *[a for a in args if a == EXTRA]]
    result = _invoke(*folders, *[a for a in args if a != EXTRA])
    assert result.exit_code == 2, result.output
    assert _error(result.output).startswith(message), result.output


def test_a_pattern_that_matches_nothing_names_the_cells_there() -> None:
    result = _invoke(*SHARDS, "--a", "densenet201-metadata-paper-s0", "--b", "vgg16-*")
    assert result.exit_code == 2
    line = _error(result.output)
    assert "e.g. '*-metadata-*'" in line and "densenet201-augmented-paper-s0" in line


def test_mcnemar_stands_on_the_accuracy_row_only(tmp_path: Path) -> None:
    out = tmp_path / "compare.csv"
    result = _invoke(*SHARDS, "--a", "*-metadata-*", "--b", "*-augmented-*", "--out", str(out), "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out).set_index("metric")
    assert frame.loc["accuracy", "mcnemar_p"] > 0
    others = frame.drop(index="accuracy")
    assert others[["mcnemar_p", "a_only_correct", "b_only_correct"]].isna().all().all()

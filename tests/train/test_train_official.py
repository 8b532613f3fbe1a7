"""The ``official`` split: HAM10000 for training and model selection, the ISIC 2018 Task 3 test set reported.

The data come the way a user gets them: ``skinbench data fetch --with-test`` from a loopback
server serving small synthetic archives in the real file names and layouts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from fetch_fixtures import Archives, FileServer, build_archives, write_manifest  # noqa: E402
from skinbench.cli import app  # noqa: E402
from skinbench.config import Cell, Settings, Synthetic  # noqa: E402
from skinbench.data.splits import make_split, reported_part  # noqa: E402
from skinbench.errors import DataError  # noqa: E402
from skinbench.train.cell import cell_config  # noqa: E402
from skinbench.train.resolve import CellPlan, DataSource  # noqa: E402
from skinbench.train.rundata import RunData  # noqa: E402

runner = CliRunner()


def _fetch_into(work: Path, *, test_metadata: bool = True) -> tuple[Path, Archives]:
    archives = build_archives(work / "archives", train=80, test=21, test_metadata=test_metadata)
    server = FileServer()
    try:
        manifest = write_manifest(work / "manifest.json", server, archives)
        target = work / "data"
        result = runner.invoke(app, ["data", "fetch", str(target), "--with-test", "--manifest", str(manifest)])
        assert result.exit_code == 0, result.output
    finally:
        server.close()
    return target, archives


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Archives]:
    return _fetch_into(tmp_path_factory.mktemp("official"))


def _source(folder: Path) -> DataSource:
    return DataSource("ham10000", folder, Synthetic())


def test_the_test_set_is_the_reported_part_and_never_trains(fetched, tmp_path: Path, train_cache: Path, tiny: str) -> None:
    folder, archives = fetched
    data = RunData(_source(folder), tmp_path / "run", need_metadata=True, progress=False, splits={"official"})
    split = data.split("official", 0)
    assert reported_part("official") == "test"
    assert sorted(split.loc[split["part"] == "test", "image_id"]) == archives.test_ids
    trained = set(split.loc[split["part"].isin(["train", "val"]), "image_id"])
    assert trained == set(archives.train_ids) and not trained & set(archives.test_ids)
    assert set(split["part"]) == {"train", "val", "test"}
    # Validation is grouped by lesion: no lesion on both sides.
    train = split[split["part"] == "train"]
    val = split[split["part"] == "val"]
    assert not set(train["lesion_id"]) & set(val["lesion_id"])
    # The saved split is read back by the next run, and the cell's reported images are the test set.
    assert sorted(pd.read_csv(tmp_path / "run" / "split-official-s0.csv").query("part == 'test'")["image_id"]) == archives.test_ids
    again = RunData(_source(folder), tmp_path / "run", need_metadata=True, progress=False, splits={"official"})
    cell = Cell("tiny", "metadata", "official", 0)
    inputs = again.inputs(cell, cell_config(CellPlan(cell, metadata=True), Settings(batch_size=8, image_size=32), again))
    assert inputs.report_part == "test" and sorted(inputs.report_ids) == archives.test_ids
    # The run's dataset fingerprint covers the test set; the training images' cache is the training data's.
    assert again.dataset.fingerprint != again.training.fingerprint
    paper = RunData(_source(folder), tmp_path / "paper", need_metadata=True, progress=False)
    assert not set(paper.split("paper", 0)["image_id"]) & set(archives.test_ids)


def test_make_split_refuses_a_frame_without_the_test_set(fetched) -> None:
    from skinbench.data.ham10000 import load_dataset

    folder, _ = fetched
    with pytest.raises(DataError, match="needs the ISIC 2018 Task 3 test set.*--with-test"):
        make_split(load_dataset(folder).frame, "official", 0)


def test_metadata_recipe_is_refused_when_the_test_set_has_no_metadata(tmp_path: Path, train_cache: Path) -> None:
    folder, _ = _fetch_into(tmp_path, test_metadata=False)
    with pytest.raises(DataError, match=r"ISIC2018_Task3_Test_GroundTruth\.csv has only their one-hot labels"):
        RunData(_source(folder), tmp_path / "run", need_metadata=True, progress=False, splits={"official"})
    # The augmented recipe needs no metadata and runs on it.
    data = RunData(_source(folder), tmp_path / "run", need_metadata=False, progress=False, splits={"official"})
    assert (data.split("official", 0)["part"] == "test").sum() == 21


def test_missing_test_set_names_the_fetch_command(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no ISIC 2018 Task 3 test set below .*skinbench data fetch .* --with-test"):
        RunData(_source(tiny_data), tmp_path / "run", need_metadata=False, progress=False, splits={"official"})


def test_run_split_official_end_to_end(fetched, tmp_path: Path, tiny: str, invoke) -> None:
    folder, archives = fetched
    out = tmp_path / "out"
    result = invoke([
        "run", "--allow-cpu", "--backbones", tiny, "--split", "official", "--epochs", "1", "--data-dir", str(folder),
        "--image-size", "32", "--batch-size", "16", "--weights", "none", "--quiet", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    for recipe in ("augmented", "metadata"):
        cell = out / f"tiny-{recipe}-official-s0"
        metrics = json.loads((cell / "metrics.json").read_text())
        assert metrics["part"] == "test" and metrics["n_images"] == len(archives.test_ids)
        assert sorted(pd.read_csv(cell / "predictions.csv")["image"]) == archives.test_ids
    described = json.loads((out / "data.json").read_text())["splits"]["official-s0"]
    assert sum(described["test"].values()) == len(archives.test_ids)
    # The report's section for the split: this run beside the leaderboard's published figure, with its source.
    from skinbench.report.official import official_section
    from skinbench.report.runs import load_results
    from skinbench.report.summary import summarise

    summary = summarise(load_results([out]), bootstrap_n=20)
    markdown, table = official_section(summary)
    assert "0.885" in markdown and "https://challenge.isic-archive.com/leaderboards/2018/" in markdown
    assert "Tiny + Augmented Data" in markdown and "Tiny + Metadata and WeightLoss" in markdown
    assert f"scored on {len(archives.test_ids)} test images, not the challenge's 1,511" in markdown
    cell = json.loads((out / "tiny-metadata-official-s0" / "metrics.json").read_text())
    row = table.frame[(table.frame["row"] == "Tiny + Metadata and WeightLoss") & (table.frame["column"] == "balanced_accuracy")]
    assert row["run"].iloc[0] == pytest.approx(cell["balanced_accuracy"]) and row["paper"].isna().all()
    assert official_section(summarise(load_results([_without_official(out)]), bootstrap_n=0)) == ("", None)
    # skinbench report puts the section into report.md and writes its CSV
    from skinbench.report.build import build_report

    report, _ = build_report([out], tmp_path / "report", bootstrap=0, plots=False)
    assert markdown.splitlines()[0] in report.read_text()
    assert (tmp_path / "report" / f"{table.name}.csv").exists()


def _without_official(out: Path) -> Path:
    """A copy of the run folder without its official cells (a run of other splits has no such section)."""
    import shutil

    other = out.parent / "without-official"
    shutil.copytree(out, other)
    for cell in other.glob("*-official-s0"):
        shutil.rmtree(cell)
    return other

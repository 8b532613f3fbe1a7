"""External validation end to end: kept tiny cells scored on synthetic ISIC 2019 and PAD-UFES-20 sets
(`skinbench evaluate`), the duplicate warning, the metadata refusal and the report's section."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from skinbench.classes import CLASSES
from skinbench.data.datasets import IN_HAM10000
from skinbench.data.synthetic_external import generate_external
from skinbench.deploy.model import load_cell, load_images
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import read_predictions
from skinbench.records import CellMetrics, ExternalInfo
from train_helpers import TWO_CELLS

IMAGE_ONLY, METADATA = TWO_CELLS
SIZE = (64, 48)


@pytest.fixture(scope="module")
def external_sets(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("external")
    return {
        "isic2019": generate_external(root / "isic2019", "isic2019", count=60, size=SIZE, ham_copies_from=tiny_data, ham_copies=4),
        "pad-ufes-20": generate_external(root / "pad", "pad-ufes-20", count=60, size=SIZE),
        "derm7pt": generate_external(root / "derm7pt", "derm7pt", count=60, size=SIZE),
    }


@pytest.fixture
def run(two_cells: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(two_cells, copy)
    return copy


def test_evaluate_scores_kept_cells_on_isic2019_and_pad_and_the_report_shows_it(
    run: Path, external_sets: dict[str, Path], tiny_data: Path, invoke
) -> None:
    cells = [str(run / cell) for cell in TWO_CELLS]
    result = invoke(["evaluate", *cells, "--data", str(external_sets["isic2019"]), "--ham10000", str(tiny_data)])
    assert result.exit_code == 0, result.output
    result = invoke(["evaluate", *cells, "--data", str(external_sets["pad-ufes-20"])])
    assert result.exit_code == 0, result.output

    folder = run / IMAGE_ONLY / "external" / "isic2019"
    info = ExternalInfo.read(folder)
    truth = pd.read_csv(external_sets["isic2019"] / "ISIC_2019_Training_GroundTruth.csv")
    ham = set(pd.read_csv(tiny_data / "HAM10000_metadata.csv")["image_id"])
    assert info.excluded == {IN_HAM10000: 4} and info.n_images == len(truth) - 4
    assert info.shared_with_training == 0  # the HAM10000 copies were left out by id first
    ids, labels, probs = read_predictions(folder / "predictions.csv")
    assert not set(ids) & ham
    source = truth.set_index("image")[["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]].idxmax(axis=1)
    # SCC and UNK are scored apart, never as one of the seven classes.
    assert set(source[ids]) <= {"MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC"}
    unmapped = pd.read_csv(folder / "unmapped.csv")
    assert set(unmapped["source_class"]) == {"SCC", "UNK"} and set(unmapped["image"]) == set(source[source.isin(["SCC", "UNK"])].index)
    assert info.unmapped == unmapped["source_class"].value_counts().to_dict()
    mapping = {"MEL": "mel", "NV": "nv", "BCC": "bcc", "AK": "akiec", "BKL": "bkl", "DF": "df", "VASC": "vasc"}
    assert [CLASSES[i] for i in labels] == [mapping[source[i]] for i in ids]
    assert CellMetrics.read(folder).values["balanced_accuracy"] == pytest.approx(compute_metrics(labels, probs)["balanced_accuracy"])
    # The probabilities are the kept model's on the images resized as in training.
    kept = load_cell(run / IMAGE_ONLY)
    images, _, _ = load_images(kept, [external_sets["isic2019"] / "ISIC_2019_Training_Input" / f"{i}.jpg" for i in ids[:3]])
    assert np.abs(np.asarray(kept.model.predict_on_batch({"image": images})) - probs[:3]).max() < 1e-5
    # The metadata model got the set's age, sex and site.
    assert ExternalInfo.read(run / METADATA / "external" / "pad-ufes-20").metadata

    result = invoke(["report", str(run), "--bootstrap", "50", "--no-plots"])
    assert result.exit_code == 0, result.output
    report = (run / "report.md").read_text()
    section = report.split("## External validation", 1)[1]
    for cell in TWO_CELLS:
        assert f"| {cell} | ISIC 2019 |" in section and f"| {cell} | PAD-UFES-20 |" in section
    table = pd.read_csv(run / "external.csv")
    assert len(table) == 4
    isic = table[table["dataset"] == "isic2019"].set_index("cell")
    assert isic.loc[IMAGE_ONLY, "external"] == pytest.approx(CellMetrics.read(folder).values["balanced_accuracy"])
    assert (isic["drop"] - (isic["internal"] - isic["external"])).abs().max() < 1e-9
    tau = kendalltau(isic["internal"], isic["external"])[0]
    expected = "no tau" if np.isnan(tau) else f"tau {tau:.2f}"
    assert f"- ISIC 2019: {expected}" in section and "over 2 model(s)" in section


def test_evaluate_warns_about_images_shared_with_the_training_part(run: Path, external_sets: dict[str, Path], tmp_path: Path, invoke) -> None:
    pad = tmp_path / "pad"
    shutil.copytree(external_sets["pad-ufes-20"], pad)
    split = pd.read_csv(run / "split-paper-s0.csv")
    trained = split.loc[split["part"] == "train", "image_id"].iloc[0]
    source = next(Path(json.loads((run / IMAGE_ONLY / "config.json").read_text())["dataset"]["root"]).rglob(f"{trained}.jpg"))
    from PIL import Image

    Image.open(source).save(pad / "images" / "imgs_part_1" / "PAT_9_9_9.png")  # the same picture, another file
    meta = pd.read_csv(pad / "metadata.csv")
    meta = pd.concat([meta, meta.head(1).assign(patient_id="PAT_9", lesion_id=9, img_id="PAT_9_9_9.png")])
    meta.to_csv(pad / "metadata.csv", index=False)
    result = invoke(["evaluate", str(run / IMAGE_ONLY), "--data", str(pad)])
    assert result.exit_code == 0, result.output
    assert "1 image(s) of PAD-UFES-20 duplicate images of" in " ".join(result.output.split())
    assert f"PAT_9_9_9 = {trained}" in " ".join(result.output.split())
    assert ExternalInfo.read(run / IMAGE_ONLY / "external" / "pad-ufes-20").shared_with_training == 1


def test_a_metadata_model_is_refused_on_a_set_without_age(run: Path, external_sets: dict[str, Path], invoke) -> None:
    result = invoke(["evaluate", str(run / IMAGE_ONLY), str(run / METADATA), "--data", str(external_sets["derm7pt"])])
    assert result.exit_code == 2
    assert "is a metadata model, and Derm7pt has no age" in " ".join(result.output.split())
    assert not (run / IMAGE_ONLY / "external").exists()  # refused before anything was scored
    result = invoke(["evaluate", str(run / IMAGE_ONLY), "--data", str(external_sets["derm7pt"])])
    assert result.exit_code == 0, result.output
    info = ExternalInfo.read(run / IMAGE_ONLY / "external" / "derm7pt")
    test_rows = pd.read_csv(external_sets["derm7pt"] / "meta" / "test_indexes.csv")["indexes"]
    assert info.n_images == len(test_rows) and info.group_key == "case_num"


def test_isic2019_without_the_ham10000_ids_is_refused_for_a_synthetic_cell(run: Path, external_sets: dict[str, Path], invoke) -> None:
    result = invoke(["evaluate", str(run / IMAGE_ONLY), "--data", str(external_sets["isic2019"])])
    assert result.exit_code == 2 and "pass --ham10000 DIR" in " ".join(result.output.split())

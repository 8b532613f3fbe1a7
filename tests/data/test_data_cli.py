"""`skinbench data synth` and `skinbench data check`: output, messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from data_helpers import REAL_CSV, read_csv, to_isic, write_csv
from skinbench.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["data", *args])


def test_synth_then_check_prints_table2(tmp_path: Path) -> None:
    folder = tmp_path / "demo-data"
    result = _run("synth", str(folder), "--count", "120", "--size", "40x30", "--seed", "4")
    assert result.exit_code == 0, result.output
    assert "wrote 120 synthetic images" in result.output
    assert len(pd.read_csv(folder / "HAM10000_metadata.csv")) == 120
    with Image.open(next(folder.rglob("*.jpg"))) as image:
        assert image.size == (40, 30)
    result = _run("check", str(folder))
    assert result.exit_code == 0, result.output
    assert "Class distribution (paper Table 2)" in result.output
    for name in ("akiec", "Melanocytic nevi", "Total"):
        assert name in result.output
    assert "ok: the data can be used" in result.output


def test_synth_rejects_bad_size_and_existing_folder(synth_root: Path, tmp_path: Path) -> None:
    result = _run("synth", str(tmp_path / "x"), "--size", "600by450")
    assert result.exit_code == 2 and "write WIDTHxHEIGHT, e.g. 600x450" in result.output
    result = _run("synth", str(synth_root), "--count", "10")
    assert result.exit_code == 2 and "already exists and is not empty" in result.output


def test_check_missing_folder(tmp_path: Path) -> None:
    result = _run("check", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "is not a folder" in result.output
    assert "Traceback" not in result.output


def test_check_unknown_dx_fails_naming_the_line(ham_copy: Path) -> None:
    table = read_csv(ham_copy)
    table.loc[0, "dx"] = "seborrheic"
    write_csv(ham_copy, table)
    result = _run("check", str(ham_copy))
    assert result.exit_code == 2
    assert "line 2: unknown diagnosis 'seborrheic'" in result.output
    assert "Class distribution" in result.output  # the rest is still tabulated
    assert "cannot be used as it is: 1 error(s) above" in result.output


def test_check_reports_unreadable_images_and_strict_fails(ham_copy: Path) -> None:
    path = next((ham_copy / "HAM10000_images_part_1").glob("*.jpg"))
    path.write_bytes(path.read_bytes()[:200])
    result = _run("check", str(ham_copy))
    assert result.exit_code == 0, result.output
    assert f"1 image file(s) cannot be decoded ({path.name}" in result.output
    strict = _run("check", str(ham_copy), "--strict")
    assert strict.exit_code == 2 and f"({path.name}" in strict.output


def test_check_isic_layout_warns_about_lesions(ham_copy: Path) -> None:
    to_isic(ham_copy)
    result = _run("check", str(ham_copy))
    assert result.exit_code == 0, result.output
    assert "isic2018 layout" in result.output and "metadata no" in result.output
    assert "each image counts as its own lesion" in result.output


@pytest.mark.skipif(not REAL_CSV.is_file(), reason="the real HAM10000_metadata.csv (../shared/data) is not here")
def test_check_real_csv_with_some_images_reports_the_missing_ones(tmp_path: Path) -> None:
    root = tmp_path / "HAM10000"
    (root / "HAM10000_images_part_1").mkdir(parents=True)
    (root / "HAM10000_metadata.csv").write_bytes(REAL_CSV.read_bytes())
    table = pd.read_csv(REAL_CSV)
    present = table[table["age"].notna()]["image_id"].head(25)
    for image_id in present:
        Image.new("RGB", (60, 45), (180, 120, 90)).save(root / "HAM10000_images_part_1" / f"{image_id}.jpg")
    result = _run("check", str(root))
    assert result.exit_code == 0, result.output
    missing = table[table["age"].notna() & ~table["image_id"].isin(present)]["image_id"]
    assert f"{len(missing):,} of the 9,958 images to use" in result.output
    assert missing.iloc[0] in result.output
    assert "dropped: 57 rows (missing age)" in result.output
    assert "10015" in result.output  # the listed total, beside the paper's
    strict = _run("check", str(root), "--strict")
    assert strict.exit_code == 2 and "are not below" in strict.output


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_check_names_a_broken_image_link_and_leaves_it_out(ham_copy: Path, kind: str) -> None:
    from skinbench.data.ham10000 import load_dataset

    image_id = read_csv(ham_copy)["image_id"].iloc[0]
    (victim,) = ham_copy.rglob(f"{image_id}.jpg")
    victim.unlink()
    victim.symlink_to(ham_copy / "nowhere.jpg" if kind == "dangling" else victim)  # a loop: a link to itself
    result = _run("check", str(ham_copy))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "links that lead to no file" in text and victim.name in text and "Traceback" not in result.output
    dataset = load_dataset(ham_copy)
    assert image_id not in set(dataset.frame["image_id"]) and dataset.dropped["image missing"] == 1

"""Kept models: model.keras reloads safely and `skinbench predict` reproduces predictions.csv on new files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinbench.eval.predictions import read_predictions
from skinbench.records import MODEL_FILE, CellConfig, InferenceInfo
from train_helpers import TWO_CELLS

IMAGE_ONLY, METADATA = TWO_CELLS


def _reported(two_cells: Path, cell: str) -> tuple[list[Path], pd.DataFrame]:
    """The image files of a cell's reported part, and the dataset's metadata CSV."""
    ids, _, _ = read_predictions(two_cells / cell / "predictions.csv")
    root = Path(CellConfig.read(two_cells / cell).dataset.root)
    files = {p.stem: p for p in root.rglob("*.jpg")}
    return [files[i] for i in ids], pd.read_csv(root / "HAM10000_metadata.csv")


@pytest.mark.parametrize("cell", TWO_CELLS)
def test_predicting_the_reported_part_gives_predictions_csv(two_cells: Path, cell: str, invoke, tmp_path: Path) -> None:
    info = InferenceInfo.read(two_cells / cell)
    assert (two_cells / cell / MODEL_FILE).stat().st_size == info.model_bytes
    assert (info.metadata_encoder is not None) == (cell == METADATA) and info.image_size == 32
    files, metadata = _reported(two_cells, cell)
    images = tmp_path / "new"  # files the run never saw by these paths
    images.mkdir()
    for path in files:
        shutil.copy(path, images / path.name)
    (tmp_path / "meta.csv").write_text(metadata[["image_id", "age", "sex", "localization"]].to_csv(index=False))
    out = tmp_path / "predicted.csv"
    result = invoke(["predict", str(two_cells / cell), "--images", str(images), "--metadata", str(tmp_path / "meta.csv"),
                     "--out", str(out)])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(out).set_index("image")
    expected = pd.read_csv(two_cells / cell / "predictions.csv").set_index("image")
    assert sorted(predicted.index) == sorted(expected.index)
    columns = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    assert np.abs(predicted.loc[expected.index, columns].to_numpy() - expected[columns].to_numpy()).max() <= 1e-5
    assert (predicted.loc[expected.index, "predicted"] == expected[columns].idxmax(axis=1)).all()
    assert list(predicted.columns[:7]) == columns and "ISIC 2018 Task 3 column order (MEL, NV, BCC" in result.output


def test_a_metadata_model_needs_metadata_and_bad_images_are_named(two_cells: Path, invoke, tmp_path: Path) -> None:
    files, metadata = _reported(two_cells, METADATA)
    result = invoke(["predict", str(two_cells / METADATA), str(files[0])])
    assert result.exit_code == 2 and "is a metadata model: pass --metadata CSV" in result.output
    broken = tmp_path / "ISIC_broken.jpg"
    broken.write_bytes(b"not a jpeg")
    (tmp_path / "meta.csv").write_text(metadata.to_csv(index=False))
    result = invoke(["predict", str(two_cells / METADATA), str(files[0]), str(broken), str(tmp_path / "ISIC_none.jpg"),
                     "--metadata", str(tmp_path / "meta.csv")])
    assert result.exit_code == 0, result.output
    assert "ISIC_none: no row" in " ".join(result.output.split()) or "ISIC_none.jpg: no row" in " ".join(result.output.split())
    lines = [line for line in result.output.splitlines() if line.startswith(("image,", files[0].stem))]
    assert lines[0].startswith("image,MEL,NV,BCC,AKIEC,BKL,DF,VASC,predicted") and len(lines) == 2
    result = invoke(["predict", str(two_cells / IMAGE_ONLY), str(broken)])
    assert result.exit_code == 2 and "cannot be read" in result.output and "no usable image" in result.output


def test_a_metadata_csv_without_a_column_is_named(two_cells: Path, invoke, tmp_path: Path) -> None:
    files, metadata = _reported(two_cells, METADATA)
    (tmp_path / "partial.csv").write_text(metadata[["image_id", "age", "sex"]].to_csv(index=False))
    result = invoke(["predict", str(two_cells / METADATA), str(files[0]), "--metadata", str(tmp_path / "partial.csv")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'partial.csv'} lacks the column(s) localization" in " ".join(result.output.split())


def test_a_cell_without_a_kept_model_is_refused(tmp_path: Path, invoke) -> None:
    result = invoke(["predict", str(tmp_path), "x.jpg"])
    assert result.exit_code == 2 and "has no kept model" in result.output and "--keep-models" in result.output


def _copy_cell(two_cells: Path, tmp_path: Path, cell: str) -> Path:
    """A copy of a finished cell (its run folder's split and data.json with it) that a test may damage."""
    run = tmp_path / "run"
    run.mkdir()
    for path in two_cells.glob("*.*"):
        shutil.copy(path, run / path.name)
    shutil.copytree(two_cells / cell, run / cell)
    return run / cell


def _one_line(output: str) -> str:
    assert "Traceback" not in output, output
    return " ".join(output.split())


def _flip_a_byte_inside(path: Path) -> None:
    """Change one byte in the middle of the weights, leaving the size and the zip directory whole."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        weights = archive.getinfo("model.weights.h5")
    data = bytearray(path.read_bytes())
    start = weights.header_offset + 30 + len(weights.filename.encode()) + len(weights.extra)
    data[start + weights.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "bytes, but inference.json records"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(p.stat().st_size)), "not a Keras archive"),
        (_flip_a_byte_inside, "fails its checksum (CRC): the file is damaged"),
    ],
    ids=["truncated", "random-bytes", "one-byte-changed"],
)
def test_a_damaged_model_file_is_named_with_what_is_wrong(two_cells: Path, tmp_path: Path, invoke, damage, message: str) -> None:
    folder = _copy_cell(two_cells, tmp_path, IMAGE_ONLY)
    damage(folder / MODEL_FILE)
    files, _ = _reported(two_cells, IMAGE_ONLY)
    result = invoke(["predict", str(folder), str(files[0])])
    assert result.exit_code == 2
    text = _one_line(result.output)
    assert f"{folder / MODEL_FILE}:" in text and message in text and "not found" not in text.lower()
    assert "run the same skinbench run command again" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["metadata_encoder"].update(age_sd="x"), "metadata_encoder.age_sd must be a number, not 'x'"),
        (lambda d: d["metadata_encoder"].pop("age_sd"), "metadata_encoder lacks age_sd"),
    ],
    ids=["text-for-a-number", "missing-key"],
)
def test_a_damaged_inference_json_is_one_line_in_predict_explain_and_export(
    two_cells: Path, tmp_path: Path, invoke, change, message: str
) -> None:
    import json

    folder = _copy_cell(two_cells, tmp_path, METADATA)
    data = json.loads((folder / InferenceInfo.FILE).read_text())
    change(data)
    (folder / InferenceInfo.FILE).write_text(json.dumps(data))
    files, metadata = _reported(two_cells, METADATA)
    (tmp_path / "meta.csv").write_text(metadata.to_csv(index=False))
    for command in (["predict", str(folder), str(files[0]), "--metadata", str(tmp_path / "meta.csv")],
                    ["explain", str(folder), str(files[0]), "--metadata", str(tmp_path / "meta.csv"), "--out", str(tmp_path / "x")],
                    ["export", str(folder), "--format", "tflite"]):
        result = invoke(command)
        assert result.exit_code == 2, (command[0], result.output)
        assert f"{folder / InferenceInfo.FILE}: {message}" in _one_line(result.output), command[0]


def test_odd_images_are_read_right_or_named_and_the_others_predicted_and_explained(two_cells: Path, tmp_path: Path, invoke) -> None:
    from PIL import Image

    files, _ = _reported(two_cells, IMAGE_ONLY)
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(files[0], images / "good.jpg")
    with Image.open(files[1]) as photo:
        grey = np.asarray(photo.convert("L"))
    Image.fromarray(grey).save(images / "grey8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(images / "grey16.png")  # its 16-bit twin
    Image.new("1", (20_000, 20_000)).save(images / "bomb.png")  # a 400-megapixel header, a few kB on disk
    out = tmp_path / "predicted.csv"
    result = invoke(["predict", str(two_cells / IMAGE_ONLY), "--images", str(images), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = _one_line(result.output)
    assert "bomb.png: cannot be read" in text and "decompression bomb" in text
    predicted = pd.read_csv(out).set_index("image")
    assert sorted(predicted.index) == ["good", "grey16", "grey8"]
    columns = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    assert np.abs(predicted.loc["grey16", columns] - predicted.loc["grey8", columns]).max() <= 1e-6
    maps = tmp_path / "maps"
    result = invoke(["explain", str(two_cells / IMAGE_ONLY), *map(str, sorted(images.iterdir())), "--out", str(maps)])
    assert result.exit_code == 0, result.output
    assert "bomb.png: cannot be read" in _one_line(result.output)
    assert sorted(p.name for p in maps.glob("*.png")) == ["good.png", "grey16.png", "grey8.png"]

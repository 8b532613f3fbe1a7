"""Loading both layouts, and every kind of bad input giving its clear message (and nothing else dropped)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_helpers import REAL_CSV, SMALL_COUNT, read_csv, to_isic, write_csv
from skinbench.classes import CLASSES
from skinbench.data.ham10000 import FRAME_COLUMNS, inspect_dataset, load_dataset, read_metadata_csv, table2
from skinbench.errors import DataError


def test_ham10000_layout_loads_every_image_with_an_age(synth_root: Path) -> None:
    table = read_csv(synth_root)
    dataset = load_dataset(synth_root)
    with_age = table[table["age"].notna()]
    assert len(with_age) < len(table), "the fixture must list an image without an age"
    assert dataset.layout == "ham10000" and dataset.has_metadata
    assert list(dataset.frame.columns) == FRAME_COLUMNS
    assert sorted(dataset.frame["image_id"]) == sorted(with_age["image_id"])
    assert dataset.dropped == {"missing age": len(table) - len(with_age)}
    assert all(Path(p).is_file() and Path(p).stem == i for p, i in zip(dataset.frame["path"], dataset.frame["image_id"]))
    assert (dataset.frame["label"] == dataset.frame["dx"].map(CLASSES.index)).all()
    assert not [p for p in dataset.problems if p.fatal]


def test_dataset_column_is_optional(ham_copy: Path) -> None:
    table = read_csv(ham_copy)
    assert "dataset" in table and "dx_type" in table  # the fixture has both, as the download does
    full = load_dataset(ham_copy)
    write_csv(ham_copy, table.drop(columns=["dataset", "dx_type"]))
    without = load_dataset(ham_copy)
    pd.testing.assert_frame_equal(without.frame, full.frame)
    assert (without.dropped, without.problems) == (full.dropped, full.problems)


def test_isic_layout_loads_without_metadata(ham_copy: Path) -> None:
    table = to_isic(ham_copy)
    dataset = load_dataset(ham_copy)
    assert dataset.layout == "isic2018" and not dataset.has_metadata
    assert len(dataset.frame) == len(table)  # no age, so nothing dropped for it
    assert dict(zip(dataset.frame["image_id"], dataset.frame["dx"])) == dict(zip(table["image_id"], table["dx"]))
    assert (dataset.frame["lesion_id"] == dataset.frame["image_id"]).all()
    assert [p.kind for p in dataset.problems] == ["no lesion_id"]
    assert "'lesion' split cannot keep images of one lesion together" in dataset.problems[0].message


def test_isic_layout_takes_lesion_ids_from_the_groupings_file(ham_copy: Path) -> None:
    table = to_isic(ham_copy, groupings=True)
    dataset = load_dataset(ham_copy)
    assert dict(zip(dataset.frame["image_id"], dataset.frame["lesion_id"])) == dict(zip(table["image_id"], table["lesion_id"]))
    assert not dataset.problems


def test_isic_layout_refused_when_metadata_is_required(ham_copy: Path) -> None:
    to_isic(ham_copy)
    with pytest.raises(DataError, match="ISIC 2018 Task 3 layout, which has no age, sex or site"):
        load_dataset(ham_copy, require_metadata=True)


def test_missing_columns_are_named(ham_copy: Path) -> None:
    write_csv(ham_copy, read_csv(ham_copy).drop(columns=["lesion_id", "sex"]))
    with pytest.raises(DataError, match=r"HAM10000_metadata.csv lacks the column\(s\) lesion_id, sex"):
        load_dataset(ham_copy)


def test_unknown_dx_names_the_line_and_the_fix(ham_copy: Path) -> None:
    table = read_csv(ham_copy)
    table.loc[3, "dx"] = "melanoma"
    write_csv(ham_copy, table)
    with pytest.raises(DataError, match=r"line 5: unknown diagnosis 'melanoma'; dx must be one of akiec, bcc"):
        load_dataset(ham_copy)
    inspected = inspect_dataset(ham_copy)  # the check command still tabulates the rest
    assert table.loc[3, "image_id"] not in set(inspected.frame["image_id"])
    assert inspected.listed.sum() == SMALL_COUNT - 1


def test_duplicate_image_ids_are_named(ham_copy: Path) -> None:
    table = read_csv(ham_copy)
    write_csv(ham_copy, pd.concat([table, table.iloc[[7]]], ignore_index=True))
    with pytest.raises(DataError, match=rf"image_id listed more than once \({table.loc[7, 'image_id']}\)"):
        load_dataset(ham_copy)


def test_missing_images_are_counted_named_and_left_out(ham_copy: Path) -> None:
    dataset = load_dataset(ham_copy)
    gone = dataset.frame["image_id"].iloc[:4].tolist()
    for path in dataset.frame["path"].iloc[:4]:
        Path(path).unlink()
    again = load_dataset(ham_copy)
    assert again.dropped["image missing"] == 4
    assert len(again.frame) == len(dataset.frame) - 4
    problem = next(p for p in again.problems if p.kind == "missing images")
    assert not problem.fatal and list(problem.examples) == gone
    assert problem.message.startswith(f"4 of the {len(dataset.frame)} images to use")
    with pytest.raises(DataError, match="4 of the"):
        load_dataset(ham_copy, strict=True)


def test_no_images_at_all_is_fatal(ham_copy: Path) -> None:
    for path in ham_copy.rglob("*.jpg"):
        path.unlink()
    with pytest.raises(DataError, match="are not below"):
        load_dataset(ham_copy)


def test_ages_missing_dropped_impossible_reported(ham_copy: Path) -> None:
    table = read_csv(ham_copy)
    had_age = table["age"].notna()
    rows = table.index[had_age][:3]
    table.loc[rows[0], "age"] = "abc"
    table.loc[rows[1], "age"] = "150"
    table.loc[rows[2], "age"] = None
    write_csv(ham_copy, table)
    dataset = load_dataset(ham_copy)
    assert dataset.dropped == {"missing age": int((~had_age).sum()) + 1, "impossible age": 2}
    assert len(dataset.frame) == len(table) - sum(dataset.dropped.values())
    impossible = next(p for p in dataset.problems if p.kind == "impossible age")
    assert f"lines {rows[0] + 2}, {rows[1] + 2}: age 'abc', '150'" in impossible.message
    with pytest.raises(DataError, match="is not a number from 0 to 120"):
        load_dataset(ham_copy, strict=True)


def test_unknown_and_blank_sex_and_site_are_kept_as_unknown(ham_copy: Path) -> None:
    table = read_csv(ham_copy)
    rows = table.index[table["age"].notna()][:5]  # rows with an age, so none is dropped for lacking one
    changes = {  # row: (sex, localization) written to the CSV, then what loading gives
        rows[0]: ((None, "back"), ("unknown", "back")),
        rows[1]: (("male", "unknown"), ("male", "unknown")),
        rows[2]: (("Male", " Face "), ("male", "face")),
        rows[3]: (("unknown", None), ("unknown", "unknown")),
        rows[4]: (("  ", "  "), ("unknown", "unknown")),
    }
    for row, (written, _) in changes.items():
        table.loc[row, ["sex", "localization"]] = written
    write_csv(ham_copy, table)
    frame = load_dataset(ham_copy).frame.set_index("image_id")
    assert len(frame) == table["age"].notna().sum()
    for row, (_, loaded) in changes.items():
        assert tuple(frame.loc[table.loc[row, "image_id"], ["sex", "localization"]]) == loaded, row


def test_not_a_folder_and_no_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no HAM10000_metadata.csv and no ISIC 2018 Task 3 ground-truth CSV"):
        load_dataset(tmp_path)


def test_fingerprint_follows_csv_and_images(ham_copy: Path) -> None:
    first = load_dataset(ham_copy)
    assert load_dataset(ham_copy).fingerprint == first.fingerprint
    path = Path(first.frame["path"].iloc[0])
    path.write_bytes(path.read_bytes() + b"\0")
    second = load_dataset(ham_copy)
    assert second.fingerprint != first.fingerprint
    table = read_csv(ham_copy)
    table.loc[0, "localization"] = "scalp" if table.loc[0, "localization"] != "scalp" else "face"
    write_csv(ham_copy, table)
    assert load_dataset(ham_copy).fingerprint != second.fingerprint


def test_table2_counts(synth_root: Path) -> None:
    dataset = load_dataset(synth_root)
    table = table2(dataset)
    counts = dataset.frame["dx"].value_counts()
    assert table.loc[list(CLASSES), "images"].tolist() == [counts.get(c, 0) for c in CLASSES]
    assert table.loc["total", "images"] == len(dataset.frame)
    assert table.loc["total", "listed"] == SMALL_COUNT
    assert table.loc[list(CLASSES), "percent"].sum() == pytest.approx(100, abs=0.05)
    assert "paper" not in table  # only beside data of HAM10000's size


@pytest.mark.skipif(not REAL_CSV.is_file(), reason="the real HAM10000_metadata.csv (../shared/data) is not here")
def test_real_metadata_csv() -> None:
    table = read_metadata_csv(REAL_CSV)
    assert len(table) == 10015
    assert table["age"].isna().sum() == 57
    assert table["lesion_id"].nunique() == 7470
    assert table["dx"].value_counts().to_dict() == {
        "akiec": 327, "bcc": 514, "bkl": 1099, "df": 115, "mel": 1113, "nv": 6705, "vasc": 142,
    }
    assert (table["sex"] == "unknown").sum() == 57 and (table["localization"] == "unknown").sum() == 234
    assert table["localization"].nunique() == 15


@pytest.mark.skipif(not REAL_CSV.is_file(), reason="the real HAM10000_metadata.csv (../shared/data) is not here")
def test_real_csv_with_every_image_gives_table2_and_drops_57(tmp_path: Path) -> None:
    root = tmp_path / "real"
    root.mkdir()
    (root / "HAM10000_metadata.csv").write_bytes(REAL_CSV.read_bytes())
    jpeg = Path(__file__).with_name("data_helpers.py")  # any bytes will do: loading does not decode
    for image_id in pd.read_csv(REAL_CSV, usecols=["image_id"])["image_id"]:
        (root / f"{image_id}.jpg").write_bytes(jpeg.read_bytes()[:16])
    dataset = load_dataset(root)
    assert len(dataset.frame) == 9958 and dataset.dropped == {"missing age": 57}
    table = table2(dataset)
    assert table["listed"].tolist() == [327, 514, 1099, 115, 1113, 6705, 142, 10015]
    assert (table["paper"] == table["listed"]).all()
    assert (dataset.frame["sex"] == "unknown").sum() == 10  # 47 of the 57 unknown sexes go with the missing ages


def test_isic_rows_that_are_not_one_hot_are_named(ham_copy: Path) -> None:
    to_isic(ham_copy)
    truth = ham_copy / "ISIC2018_Task3_Training_GroundTruth.csv"
    table = pd.read_csv(truth)
    table.loc[4, ["MEL", "NV"]] = 1.0
    table.to_csv(truth, index=False)
    with pytest.raises(DataError, match=r"line 6: unknown diagnosis 'not one-hot'.*exactly one 1 per row"):
        load_dataset(ham_copy)


def test_unparsable_csv_is_named(ham_copy: Path) -> None:
    (ham_copy / "HAM10000_metadata.csv").write_bytes(b'lesion_id,image_id\n"unclosed,quote\n')
    with pytest.raises(DataError, match="cannot read .*HAM10000_metadata.csv"):
        load_dataset(ham_copy)


def test_fingerprint_is_the_content_not_where_or_when(ham_copy: Path, tmp_path: Path) -> None:
    import os
    import shutil

    first = load_dataset(ham_copy).fingerprint
    copy = Path(shutil.copytree(ham_copy, tmp_path / "elsewhere", copy_function=shutil.copyfile))  # new paths, new times
    assert load_dataset(copy).fingerprint == first
    path = Path(load_dataset(copy).frame["path"].iloc[5])
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte of one image, same size
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and its modification time put back
    assert load_dataset(copy).fingerprint != first
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert load_dataset(copy).fingerprint == first  # the same bytes again


def test_fingerprint_reads_only_files_changed_since_the_last_load(ham_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skinbench.data import fingerprint

    read: list[str] = []
    real = fingerprint._sha256
    monkeypatch.setattr(fingerprint, "_sha256", lambda path: read.append(path) or real(path))
    dataset = load_dataset(ham_copy)
    assert len(read) == len(dataset.frame)
    read.clear()
    assert load_dataset(ham_copy).fingerprint == dataset.fingerprint and read == []
    path = dataset.frame["path"].iloc[3]
    Path(path).touch()
    assert load_dataset(ham_copy).fingerprint == dataset.fingerprint and read == [path]

"""The duplicate audit: exact and near-duplicate pairs within and across folders, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image, ImageEnhance, ImageFilter

from skinbench.data.audit import EXACT, NEAR, NEAR_DISTANCE, audit
from skinbench.data.synthetic import generate


def invoke(args: list[str]):
    from typer.testing import CliRunner

    from skinbench.cli import app

    return CliRunner().invoke(app, args)


def test_exact_and_near_copies_are_paired_and_distinct_images_are_not(tmp_path: Path) -> None:
    ham = generate(tmp_path / "ham", count=30, size=(96, 72), progress=False)
    files = sorted(ham.rglob("*.jpg"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "same.jpg").write_bytes(files[0].read_bytes())  # across folders, same bytes
    near = ImageEnhance.Contrast(Image.open(files[5])).enhance(1.4).filter(ImageFilter.GaussianBlur(1))
    near.save(other / "smaller.png")  # contrast and blur changed, another format
    (ham / "dup.jpg").write_bytes(files[2].read_bytes())  # within one folder
    pairs = audit([ham, other])
    found = {(row.kind, frozenset((row.image_a, row.image_b))) for row in pairs.itertuples()}
    assert (EXACT, frozenset((files[0].stem, "same"))) in found
    assert (NEAR, frozenset((files[5].stem, "smaller"))) in found
    assert (EXACT, frozenset((files[2].stem, "dup"))) in found
    changed = pairs[(pairs["image_a"] == files[5].stem) & (pairs["image_b"] == "smaller")]
    assert 0 < changed["distance"].iloc[0] <= NEAR_DISTANCE  # found by the threshold, not by equal hashes
    assert (pairs["distance"] <= NEAR_DISTANCE).all() and (pairs.loc[pairs["kind"] == EXACT, "distance"] == 0).all()
    # Any other pair is two photographs of one lesion (near-duplicates by design); other lesions stay apart.
    copies = {frozenset((files[0].stem, "same")), frozenset((files[5].stem, "smaller")), frozenset((files[2].stem, "dup"))}
    lesion = pd.read_csv(ham / "HAM10000_metadata.csv").set_index("image_id")["lesion_id"]
    others = {pair for _, pair in found} - copies
    assert all(len({lesion[image] for image in pair}) == 1 for pair in others)
    assert lesion.nunique() < len(lesion)  # the set has lesions of several pictures, so the check above bites

    out = tmp_path / "pairs.csv"
    result = invoke(["data", "audit", str(ham), str(other), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{len(pairs)} duplicate pair(s) among 2 folder(s)" in " ".join(result.output.split())
    assert len(pd.read_csv(out)) == len(pairs)


def test_a_missing_folder_is_one_error(tmp_path: Path) -> None:
    result = invoke(["data", "audit", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "is not a folder" in result.output


def test_hashes_are_cached_by_file_and_a_file_changed_in_place_is_hashed_again(tmp_path: Path, monkeypatch) -> None:
    from skinbench.data import audit as audit_module

    ham = generate(tmp_path / "ham", count=6, size=(96, 72), progress=False)
    files = sorted(ham.rglob("*.jpg"))
    cache = audit_module.hash_cache()
    first = audit_module.hash_images(files, "ham", cache=cache)
    assert cache.exists() and len(pd.read_csv(cache)) == len(files)
    read = []
    monkeypatch.setattr(audit_module, "_hashes", lambda path, real=audit_module._hashes: read.append(path) or real(path))
    again = audit_module.hash_images(files, "ham", cache=cache)
    assert read == [] and again.equals(first)  # every hash came from the cache, the same values
    Image.open(files[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(files[0])
    changed = audit_module.hash_images(files, "ham", cache=cache)
    assert read == [files[0]]
    assert changed.loc[0, "sha256"] != first.loc[0, "sha256"] and changed.iloc[1:].equals(first.iloc[1:])
    cache.write_text("not,a\ncache")  # a damaged cache is rebuilt, not an error
    assert audit_module.hash_images(files[:1], "ham", cache=cache).equals(changed.iloc[:1])

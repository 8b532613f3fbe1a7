"""Synthetic stand-ins for the external datasets, each in its registered layout, with a stated domain shift.

``generate_external(out_dir, name, count, size, seed)`` writes the files of ``data.datasets.DATASETS[name]``
(ISIC 2019, PAD-UFES-20, Derm7pt) so that ``skinbench evaluate``, the report's external section and
``skinbench data audit`` run here without downloads. Lesions are drawn as the synthetic HAM10000's
are (``data.synthetic``: the same class looks and metadata statistics, from another random stream,
so no image repeats one of the synthetic HAM10000), their classes renamed to the dataset's by its
mapping, and ``UNMAPPED_SHARE`` of the lesions given the classes without a HAM10000 counterpart
(SCC, UNK, ...). Each photograph then takes the dataset's ``SHIFTS`` entry:

* isic2019: another dermatoscope's colour (gain R 1.06, G 0.96, B 0.92) and a slight blur (0.6 px);
* pad-ufes-20: a clinical (smartphone) photograph: the lesion at half the scale on more skin,
  light falling off by 35% across the picture, blur 1.2 px and a warm cast (1.05, 1.00, 0.95);
* derm7pt: uneven light (20% fall-off), a cool cast (0.95, 1.00, 1.08) and blur 0.8 px.
"""

from __future__ import annotations

import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from skinbench.classes import CLASSES
from skinbench.data._workers import build_atomically
from skinbench.data.datasets import DATASETS, DatasetEntry
from skinbench.data.ham10000 import load_dataset
from skinbench.data.synthetic import _check_arguments, draw_pose, lesion_look, photograph, render_lesion, synthetic_metadata
from skinbench.errors import DataError

#: The share of lesions given a class without a HAM10000 counterpart.
UNMAPPED_SHARE = 0.1
FIRST_ISIC2019_NUMBER = 60000  #: ids after the real archive's, so none is a HAM10000 id


@dataclass(frozen=True)
class Shift:
    """How a dataset's photographs differ from the synthetic HAM10000's."""

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  #: per-channel colour gain
    light: float = 0.0  #: brightness falls off by this share from the left edge to the right
    blur: float = 0.0  #: Gaussian blur radius, pixels of the written image
    scale: float = 1.0  #: the photograph shrunk to this scale on plain skin (a clinical photo's framing)


SHIFTS: dict[str, Shift] = {
    "isic2019": Shift(gain=(1.06, 0.96, 0.92), blur=0.6),
    "pad-ufes-20": Shift(gain=(1.05, 1.0, 0.95), light=0.35, blur=1.2, scale=0.5),
    "derm7pt": Shift(gain=(0.95, 1.0, 1.08), light=0.2, blur=0.8),
}


def shifted(image: Image.Image, shift: Shift, skin: np.ndarray) -> Image.Image:
    """``image`` with ``shift`` applied (``skin``: the RGB of the plain skin around a shrunk picture)."""
    if shift.scale != 1.0:
        small = image.resize((max(1, round(image.width * shift.scale)), max(1, round(image.height * shift.scale))),
                             Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", image.size, tuple(int(v) for v in np.clip(skin, 0, 255)))
        canvas.paste(small, ((image.width - small.width) // 2, (image.height - small.height) // 2))
        image = canvas
    pixels = np.asarray(image, dtype=np.float32) * np.asarray(shift.gain, dtype=np.float32)
    if shift.light:
        pixels *= np.linspace(1.0, 1.0 - shift.light, image.width, dtype=np.float32)[None, :, None]
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(shift.blur)) if shift.blur else image


def _lesions(entry: DatasetEntry, count: int, seed: int) -> pd.DataFrame:
    """The images to draw: synthetic HAM10000 metadata, classes renamed to the dataset's."""
    rows = synthetic_metadata(count, seed)
    inverse = {dx: source for source, dx in reversed(list(entry.mapping.items())) if dx is not None}
    rows = rows[rows["dx"].isin(inverse)].copy()
    rows["source_class"] = rows["dx"].map(inverse)
    rng = np.random.default_rng([seed, 3, zlib.crc32(entry.name.encode())])
    lesions = rows["lesion_number"].unique()
    unmapped = entry.unmapped_classes
    if unmapped and len(lesions) > 1:
        chosen = rng.choice(lesions, max(1, round(UNMAPPED_SHARE * len(lesions))), replace=False)
        renamed = dict(zip(chosen, rng.choice(unmapped, len(chosen))))
        moved = rows["lesion_number"].isin(chosen)
        rows.loc[moved, "source_class"] = rows.loc[moved, "lesion_number"].map(renamed)
    return rows.reset_index(drop=True)


def _draw(entry: DatasetEntry, row: pd.Series, size: tuple[int, int], seed: int) -> Image.Image:
    stream = zlib.crc32(entry.name.encode())
    rng = np.random.default_rng([seed, 4, stream, int(row["lesion_number"])])
    dx = row["dx"] if entry.mapping[row["source_class"]] is not None else CLASSES[rng.integers(len(CLASSES))]
    look = lesion_look(dx, rng)
    canvas, _ = render_lesion(look, size, rng)
    pose = draw_pose(canvas.size, size, np.random.default_rng([seed, 5, stream, int(row["image_number"])]))
    return shifted(photograph(canvas, size, pose), SHIFTS[entry.name], look["skin"])


def _site_values(entry: DatasetEntry, localization: pd.Series) -> pd.Series:
    """HAM10000 sites back to the dataset's own values (the first that maps to each); others missing."""
    inverse = {ham: own for own, ham in reversed(list(entry.sites.items()))}
    return localization.map(inverse)


def _write_isic2019(entry: DatasetEntry, folder: Path, rows: pd.DataFrame, size, seed: int, ham_copies: pd.DataFrame) -> None:
    images = folder / "ISIC_2019_Training_Input"
    images.mkdir()
    ids = [f"ISIC_{FIRST_ISIC2019_NUMBER + n:07d}" for n in rows["image_number"]]
    for image_id, (_, row) in zip(ids, rows.iterrows()):
        _draw(entry, row, size, seed).save(images / f"{image_id}.jpg", "JPEG", quality=90)
    for _, row in ham_copies.iterrows():  # the archive holds HAM10000's images under their own ids
        shutil.copy(row["path"], images / f"{row['image_id']}.jpg")
    classes = list(entry.mapping)
    ham_classes = ham_copies["dx"].map({dx: source for source, dx in entry.mapping.items() if dx}).tolist()
    truth = pd.DataFrame({"image": ids + ham_copies["image_id"].tolist()})
    for column in classes:
        truth[column] = [1.0 if c == column else 0.0 for c in rows["source_class"].tolist() + ham_classes]
    truth.to_csv(folder / entry.marker, index=False)
    meta = pd.DataFrame({
        "image": truth["image"],
        "age_approx": (np.round(pd.to_numeric(pd.concat([rows["age"], ham_copies["age"]])) / 5) * 5).to_numpy(),
        "anatom_site_general": pd.concat([_site_values(entry, rows["localization"]),
                                          _site_values(entry, ham_copies["localization"])]).to_numpy(),
        "lesion_id": [f"BCN_{n:07d}" for n in rows["lesion_number"]] + ham_copies["lesion_id"].tolist(),
        "sex": pd.concat([rows["sex"], ham_copies["sex"]]).to_numpy(),
    })
    meta.to_csv(folder / "ISIC_2019_Training_Metadata.csv", index=False)


def _write_pad(entry: DatasetEntry, folder: Path, rows: pd.DataFrame, size, seed: int) -> None:
    images = folder / "images" / "imgs_part_1"
    images.mkdir(parents=True)
    patients = rows["lesion_number"] // 2  # two lesions per patient
    names = [f"PAT_{p}_{lesion}_{n}.png" for p, lesion, n in zip(patients, rows["lesion_number"], rows["image_number"])]
    for name, (_, row) in zip(names, rows.iterrows()):
        _draw(entry, row, size, seed).save(images / name, "PNG")
    pd.DataFrame({
        "patient_id": [f"PAT_{p}" for p in patients], "lesion_id": rows["lesion_number"], "img_id": names,
        "diagnostic": rows["source_class"], "age": rows["age"], "gender": rows["sex"].str.upper(),
        "region": _site_values(entry, rows["localization"]).str.upper(), "biopsed": True,
    }).to_csv(folder / entry.marker, index=False)


def _write_derm7pt(entry: DatasetEntry, folder: Path, rows: pd.DataFrame, size, seed: int) -> None:
    rows = rows.drop_duplicates("lesion_number").reset_index(drop=True)  # one case per lesion
    (folder / "meta").mkdir()
    (folder / "images" / "SYN").mkdir(parents=True)
    derm = [f"SYN/Syn{n:04d}.jpg" for n in range(len(rows))]
    for path, (_, row) in zip(derm, rows.iterrows()):
        _draw(entry, row, size, seed).save(folder / "images" / path, "JPEG", quality=90)
    pd.DataFrame({
        "case_num": range(1, len(rows) + 1), "diagnosis": rows["source_class"],
        "location": _site_values(entry, rows["localization"]), "sex": rows["sex"],
        "clinic": [p.replace("Syn", "Cli") for p in derm], "derm": derm,
    }).to_csv(folder / entry.marker, index=False)
    order = np.random.default_rng([seed, 6]).permutation(len(rows))
    cut = np.cumsum([round(0.6 * len(rows)), round(0.2 * len(rows))])
    for part, chunk in zip(("train", "valid", "test"), np.split(order, cut)):
        pd.DataFrame({"indexes": np.sort(chunk)}).to_csv(folder / "meta" / f"{part}_indexes.csv", index=False)


def generate_external(
    out_dir: Path | str, name: str, *, count: int = 200, size: tuple[int, int] = (600, 450), seed: int = 0,
    ham_copies_from: Path | str | None = None, ham_copies: int = 0,
) -> Path:
    """Write a synthetic ``name`` set of about ``count`` images in its layout into the new folder ``out_dir``.

    ``ham_copies`` images of the HAM10000 folder ``ham_copies_from`` are copied in under their own
    ids (ISIC 2019 only, as the real archive holds HAM10000's), for the id exclusion to find.
    """
    entry = DATASETS.get(name)
    if entry.name not in SHIFTS:
        raise DataError(f"no synthetic {entry.title}: choose from {', '.join(SHIFTS)}")
    size = _check_arguments(count, size)
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DataError(f"{out_dir} already exists and is not empty; choose a new folder or remove it")
    copies = pd.DataFrame(columns=["image_id", "lesion_id", "dx", "age", "sex", "localization", "path"])
    if ham_copies:
        if entry.name != "isic2019" or ham_copies_from is None:
            raise DataError("HAM10000 copies go into a synthetic ISIC 2019 set, from a HAM10000 folder")
        copies = load_dataset(ham_copies_from).frame.head(ham_copies)
    rows = _lesions(entry, count, seed)
    writers = {
        "isic2019": lambda folder: _write_isic2019(entry, folder, rows, size, seed, copies),
        "pad-ufes-20": lambda folder: _write_pad(entry, folder, rows, size, seed),
        "derm7pt": lambda folder: _write_derm7pt(entry, folder, rows, size, seed),
    }
    build_atomically(out_dir, writers[entry.name], entry.marker)
    return out_dir

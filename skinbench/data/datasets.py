"""The datasets a kept model can be scored on (``skinbench evaluate``), one registry entry each.

Each ``DatasetEntry`` states, as data: the files of its layout and where they come from, how to
get it, how its classes map to HAM10000's seven (``mapping``: a class without a counterpart maps
to None and is scored apart, never merged into another), its grouping key (the images of one
group are resampled together in the report's intervals), which metadata it has and how its sex
and site values map to HAM10000's, so a metadata model gets them encoded as in training.

Layouts, as published:

* ``ham10000``: the Dataverse/Kaggle layout ``data.ham10000`` reads (the synthetic set is written
  in it, so it is no entry of its own).
* ``isic2019``: the ISIC 2019 challenge's training data (https://challenge.isic-archive.com/data/#2019):
  ``ISIC_2019_Training_GroundTruth.csv`` (``image`` and one-hot MEL, NV, BCC, AK, BKL, DF, VASC, SCC,
  UNK), ``ISIC_2019_Training_Metadata.csv`` (``image, age_approx, anatom_site_general, lesion_id,
  sex``) and the JPEGs in ``ISIC_2019_Training_Input/``. It holds HAM10000's 10,015 images under
  their own ids; those are left out by image id.
* ``pad-ufes-20``: PAD-UFES-20 (Pacheco et al., Data in Brief 2020; Mendeley Data doi:10.17632/zr7vgbcyr2.1):
  smartphone clinical photographs, ``metadata.csv`` (``patient_id, lesion_id, img_id, diagnostic``
  in ACK, BCC, MEL, NEV, SCC, SEK, ``age, gender, region`` and more) and the PNGs below ``images/``.
* ``derm7pt``: the seven-point checklist dataset (Kawahara et al., IEEE JBHI 2019; http://derm.cs.sfu.ca),
  as its ``release_v0`` is read by the authors' loader (github.com/jeremykawahara/derm7pt, README and
  ``derm7pt/dataset.py``): ``meta/meta.csv`` (``case_num, diagnosis, ..., location, sex, clinic,
  derm``, the last two image paths below ``images/``) and the official index files
  ``meta/{train,valid,test}_indexes.csv`` (column ``indexes``: row positions in meta.csv). The
  dermoscopic image (``derm``) of each case of the official test index is scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from skinbench.classes import CLASSES
from skinbench.data.ham10000 import IMAGE_SUFFIXES, METADATA_CSV, UNKNOWN, load_dataset, read_table
from skinbench.errors import DataError
from skinbench.registry import Registry

#: An external set's frame: one row per image to score.
FRAME_COLUMNS = ["image_id", "group", "source_class", "dx", "age", "sex", "localization", "path"]
#: The metadata fields a dataset may have (what a metadata model needs all of).
METADATA_FIELDS = ("age", "sex", "site")
#: ``ExternalSet.excluded``'s reason for ISIC 2019's HAM10000 images.
IN_HAM10000 = "in HAM10000 (left out by image id)"


@dataclass(frozen=True)
class ExternalSet:
    """A dataset read for scoring: ``frame`` (FRAME_COLUMNS; ``dx`` None where the class has no
    HAM10000 counterpart) and the rows left out, by reason."""

    entry: "DatasetEntry"
    root: Path
    frame: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def mapped(self) -> pd.DataFrame:
        """The images whose class has a HAM10000 counterpart (scored on the seven classes)."""
        return self.frame[self.frame["dx"].notna()]

    @property
    def unmapped(self) -> pd.DataFrame:
        return self.frame[self.frame["dx"].isna()]


Reader = Callable[["DatasetEntry", Path, frozenset], ExternalSet]


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset: its layout, how to get it, its classes' mapping, grouping key and metadata."""

    name: str
    title: str
    marker: str  #: a file (path below the folder) whose presence tells this layout apart
    layout: str  #: the files, in words
    homepage: str
    fetch_source: str | None  #: the manifest source of ``skinbench data fetch --source`` (None: download by hand)
    mapping: dict[str, str | None]  #: its class -> HAM10000 class, None: no counterpart (scored apart)
    group_key: str  #: the column whose images are resampled together (lesion or patient)
    metadata: tuple[str, ...]  #: which of METADATA_FIELDS it has
    sites: dict[str, str]  #: its site values (lower case) -> HAM10000 localization; others: unknown
    reader: Reader
    external: bool = True  #: another dataset than the one skinbench trains on
    overlaps_ham10000: bool = False  #: it holds HAM10000's images under their ids (left out by id)
    scored_part: str = "all images"

    @property
    def how_to_get(self) -> str:
        if self.fetch_source:
            return f"skinbench data fetch DIR --source {self.fetch_source}"
        return f"download it from {self.homepage}, unpack it into one folder and pass that folder as --data"

    @property
    def unmapped_classes(self) -> tuple[str, ...]:
        return tuple(c for c, dx in self.mapping.items() if dx is None)

    def read(self, root: Path | str, exclude_ids: frozenset = frozenset()) -> ExternalSet:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"{root} is not a folder; {self.how_to_get}")
        if not (root / self.marker).is_file():
            raise DataError(f"{root} is not in the {self.title} layout: no {self.marker} ({self.layout}); {self.how_to_get}")
        return self.reader(self, root, exclude_ids)


def detect(root: Path | str) -> DatasetEntry:
    """The entry whose marker file is in ``root``; DataError naming the choices when none (or several) is."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass the dataset's folder as --data")
    found = [e for e in DATASETS.values() if (root / e.marker).is_file()]
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise DataError(
            f"{root} holds {what} known dataset layout ({', '.join(f'{e.name}: {e.marker}' for e in DATASETS.values())}); "
            "pass --dataset NAME"
        )
    return found[0]


# ------------------------------------------------------------------------------------------- readers


def _image_files(root: Path) -> dict[str, Path]:
    """Image files below ``root`` by file stem; DataError when two share a stem (ids must be unique)."""
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            if path.stem in files:
                raise DataError(f"{path} and {files[path.stem]} share the image id {path.stem}; keep one")
            files[path.stem] = path
    return files


def _finish(entry: DatasetEntry, root: Path, table: pd.DataFrame, excluded: dict[str, int], files: dict[str, Path] | None = None) -> ExternalSet:
    """Map classes, sex and sites, find each image's file and count what is left out.

    ``table`` has image_id, group, source_class, age, sex, site (raw values)."""
    unknown = sorted(set(table["source_class"]) - set(entry.mapping))
    if unknown:
        raise DataError(f"{root}: class(es) {', '.join(map(str, unknown))} are not in the {entry.title} mapping "
                        f"({', '.join(entry.mapping)}); use the dataset's files unchanged")
    files = _image_files(root) if files is None else files
    table = table.assign(path=table["image_id"].map(files))
    missing = int(table["path"].isna().sum())
    if missing:
        excluded = {**excluded, "no image file": missing}
        table = table[table["path"].notna()]
    if table.empty:
        raise DataError(f"{root}: none of the images listed in the {entry.title} files is below the folder; {entry.how_to_get}")
    sex = table["sex"].fillna("").astype(str).str.strip().str.lower()
    site = table["site"].fillna("").astype(str).str.strip().str.lower()
    frame = pd.DataFrame({
        "image_id": table["image_id"].astype(str),
        "group": table["group"].where(table["group"].notna() & (table["group"].astype(str) != ""), table["image_id"]).astype(str),
        "source_class": table["source_class"].astype(str),
        "dx": table["source_class"].map(entry.mapping),
        "age": pd.to_numeric(table["age"], errors="coerce"),
        "sex": sex.where(sex.isin(["male", "female"]), UNKNOWN),
        "localization": site.map(entry.sites).fillna(UNKNOWN),
        "path": table["path"],
    })
    frame["dx"] = frame["dx"].astype(object).where(frame["dx"].notna(), None)
    return ExternalSet(entry, root, frame.reset_index(drop=True)[FRAME_COLUMNS], excluded)


def _one_hot_class(table: pd.DataFrame, columns: list[str], path: Path) -> pd.Series:
    """The class of each row of a one-hot table; DataError naming rows that are not one-hot."""
    missing = [c for c in ["image", *columns] if c not in table.columns]
    if missing:
        raise DataError(f"{path} lacks the column(s) {', '.join(missing)}; use the file from the download unchanged")
    values = table[columns].apply(pd.to_numeric, errors="coerce").fillna(-1).to_numpy()
    bad = ~((values == 1).sum(axis=1) == 1) | ~np.isin(values, (0, 1)).all(axis=1)
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} row(s) are not one-hot (first: {table['image'][bad].iloc[0]}); "
                        "use the file from the download unchanged")
    return pd.Series(np.asarray(columns)[values.argmax(axis=1)], index=table.index)


def _columns(table: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path} lacks the column(s) {', '.join(missing)}; use the file from the download unchanged")


def read_isic2019(entry: DatasetEntry, root: Path, exclude_ids: frozenset) -> ExternalSet:
    truth_path, meta_path = root / entry.marker, root / "ISIC_2019_Training_Metadata.csv"
    truth = read_table(truth_path)
    truth = truth.assign(source_class=_one_hot_class(truth, list(entry.mapping), truth_path))
    if not meta_path.is_file():
        raise DataError(f"{root}: no ISIC_2019_Training_Metadata.csv beside {entry.marker}; {entry.how_to_get}")
    meta = read_table(meta_path)
    _columns(meta, ("image", "age_approx", "anatom_site_general", "lesion_id", "sex"), meta_path)
    table = truth[["image", "source_class"]].merge(meta, on="image", how="left")
    excluded: dict[str, int] = {}
    in_ham = table["image"].isin(exclude_ids)
    if in_ham.any():
        excluded[IN_HAM10000] = int(in_ham.sum())
        table = table[~in_ham]
    table = table.rename(columns={"image": "image_id", "lesion_id": "group", "age_approx": "age",
                                  "anatom_site_general": "site"})
    return _finish(entry, root, table, excluded)


def read_pad_ufes_20(entry: DatasetEntry, root: Path, exclude_ids: frozenset) -> ExternalSet:
    path = root / entry.marker
    meta = read_table(path)
    _columns(meta, ("patient_id", "lesion_id", "img_id", "diagnostic", "age", "gender", "region"), path)
    table = meta.assign(image_id=meta["img_id"].map(lambda name: Path(str(name)).stem))
    table = table.rename(columns={"patient_id": "group", "diagnostic": "source_class", "gender": "sex", "region": "site"})
    return _finish(entry, root, table, {})


def read_derm7pt(entry: DatasetEntry, root: Path, exclude_ids: frozenset) -> ExternalSet:
    path, index_path = root / entry.marker, root / "meta" / "test_indexes.csv"
    meta = read_table(path)
    _columns(meta, ("case_num", "diagnosis", "location", "sex", "derm"), path)
    if not index_path.is_file():
        raise DataError(f"{root}: no meta/test_indexes.csv (the official test index) beside meta.csv; {entry.how_to_get}")
    indexes = read_table(index_path)
    _columns(indexes, ("indexes",), index_path)
    rows = pd.to_numeric(indexes["indexes"], errors="coerce")
    if rows.isna().any() or not rows.between(0, len(meta) - 1).all():
        raise DataError(f"{index_path}: indexes must be row positions 0..{len(meta) - 1} of meta.csv")
    table = meta.iloc[rows.astype(int).tolist()]
    files = {Path(derm).stem: root / "images" / derm for derm in table["derm"]}
    if len(files) != len(table):
        raise DataError(f"{path}: two cases of the test index share a dermoscopic image name; use the file unchanged")
    files = {key: value for key, value in files.items() if value.is_file()}
    table = table.assign(image_id=table["derm"].map(lambda derm: Path(derm).stem), age=np.nan)
    table = table.rename(columns={"case_num": "group", "diagnosis": "source_class", "location": "site"})
    return _finish(entry, root, table, {}, files)


def read_ham10000(entry: DatasetEntry, root: Path, exclude_ids: frozenset) -> ExternalSet:
    dataset = load_dataset(root)
    frame = dataset.frame.rename(columns={"lesion_id": "group", "dx": "source_class", "localization": "site"})
    return _finish(entry, root, frame, dict(dataset.dropped), dict(zip(dataset.frame["image_id"], dataset.frame["path"].map(Path))))


# ------------------------------------------------------------------------------------------- entries

_HAM_SITES = ("abdomen", "acral", "back", "chest", "ear", "face", "foot", "genital", "hand", "lower extremity",
              "neck", "scalp", "trunk", "upper extremity")

DATASETS: Registry[DatasetEntry] = Registry("dataset", [
    DatasetEntry(
        name="ham10000", title="HAM10000", marker=METADATA_CSV,
        layout=f"{METADATA_CSV} and the JPEGs below the folder (Dataverse/Kaggle layout)",
        homepage="https://doi.org/10.7910/DVN/DBW86T", fetch_source="ham10000",
        mapping={c: c for c in CLASSES}, group_key="lesion_id", metadata=METADATA_FIELDS,
        sites={s: s for s in _HAM_SITES}, reader=read_ham10000, external=False,
    ),
    DatasetEntry(
        name="isic2019", title="ISIC 2019", marker="ISIC_2019_Training_GroundTruth.csv",
        layout="ISIC_2019_Training_GroundTruth.csv, ISIC_2019_Training_Metadata.csv, ISIC_2019_Training_Input/*.jpg",
        homepage="https://challenge.isic-archive.com/data/#2019", fetch_source="isic2019",
        mapping={"MEL": "mel", "NV": "nv", "BCC": "bcc", "AK": "akiec", "BKL": "bkl", "DF": "df", "VASC": "vasc",
                 "SCC": None, "UNK": None},
        group_key="lesion_id", metadata=METADATA_FIELDS,
        # anatom_site_general -> HAM10000 localization; head/neck -> face, HAM10000's largest head site.
        sites={"anterior torso": "trunk", "posterior torso": "back", "lateral torso": "trunk", "head/neck": "face",
               "upper extremity": "upper extremity", "lower extremity": "lower extremity", "palms/soles": "acral",
               "oral/genital": "genital"},
        reader=read_isic2019, overlaps_ham10000=True, scored_part="all images but HAM10000's",
    ),
    DatasetEntry(
        name="pad-ufes-20", title="PAD-UFES-20", marker="metadata.csv",
        layout="metadata.csv and the PNGs below images/ (smartphone clinical photographs)",
        homepage="https://data.mendeley.com/datasets/zr7vgbcyr2/1", fetch_source=None,
        # ACK: actinic keratosis; SEK: seborrheic keratosis (in HAM10000's bkl); SCC has no counterpart
        # (HAM10000's akiec holds intraepithelial carcinoma, not invasive SCC).
        mapping={"ACK": "akiec", "BCC": "bcc", "MEL": "mel", "NEV": "nv", "SEK": "bkl", "SCC": None},
        group_key="patient_id", metadata=METADATA_FIELDS,
        sites={"arm": "upper extremity", "forearm": "upper extremity", "hand": "hand", "neck": "neck", "face": "face",
               "nose": "face", "lip": "face", "ear": "ear", "scalp": "scalp", "chest": "chest", "back": "back",
               "abdomen": "abdomen", "thigh": "lower extremity", "foot": "foot"},
        reader=read_pad_ufes_20,
    ),
    DatasetEntry(
        name="derm7pt", title="Derm7pt", marker="meta/meta.csv",
        layout="meta/meta.csv, meta/{train,valid,test}_indexes.csv and images/ (release_v0)",
        homepage="http://derm.cs.sfu.ca", fetch_source=None,
        mapping={
            "basal cell carcinoma": "bcc", "dermatofibroma": "df", "seborrheic keratosis": "bkl", "lentigo": "bkl",
            "vascular lesion": "vasc", "melanoma": "mel", "melanoma (in situ)": "mel",
            "melanoma (less than 0.76 mm)": "mel", "melanoma (0.76 to 1.5 mm)": "mel",
            "melanoma (more than 1.5 mm)": "mel", "melanoma metastasis": "mel",
            "blue nevus": "nv", "clark nevus": "nv", "combined nevus": "nv", "congenital nevus": "nv",
            "dermal nevus": "nv", "recurrent nevus": "nv", "reed or spitz nevus": "nv",
            "melanosis": None, "miscellaneous": None,
        },
        group_key="case_num", metadata=("sex", "site"),
        sites={"abdomen": "abdomen", "acral": "acral", "back": "back", "buttocks": "trunk", "chest": "chest",
               "genital areas": "genital", "head neck": "face", "lower limbs": "lower extremity",
               "upper limbs": "upper extremity"},
        reader=read_derm7pt, scored_part="the dermoscopic image of each case of the official test index",
    ),
])

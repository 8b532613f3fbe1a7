"""Load and validate a HAM10000 folder.

Two layouts are accepted:

* ``ham10000`` (Harvard Dataverse / Kaggle): ``HAM10000_metadata.csv`` with the columns
  ``lesion_id,image_id,dx,dx_type,age,sex,localization`` (``dataset`` and ``dx_type`` are
  optional) and the JPEGs anywhere below the folder, matched by ``image_id``.
* ``isic2018`` (ISIC 2018 Task 3): one-hot ground-truth CSV(s) ``image,MEL,NV,BCC,AKIEC,BKL,
  DF,VASC`` and the images. It has no age, sex or site. When the challenge's
  ``..._LesionGroupings.csv`` (``image,lesion_id``) is present it supplies ``lesion_id``;
  otherwise every image is its own lesion.

The ISIC 2018 Task 3 test set (1,511 images, reported on by the ``official`` split) is read
apart from the training data by ``load_test_set``: its ground-truth CSV (any CSV below the
folder whose name starts with ``ISIC2018_Task3_Test``, one-hot or in the HAM10000 metadata
format) is never read as training data.

User data never crashes the loader: everything found goes into ``Dataset.problems``; a
problem is ``fatal`` when the data cannot be used as asked, and ``load_dataset`` then raises
one ``DataError`` that lists them. Rows dropped (missing age as in the paper, missing images)
are counted in ``Dataset.dropped``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.catalogue import ISIC2018_TEST_IMAGES, ISIC2018_UNSCORED
from skinbench.classes import CLASS_NAMES, CLASSES, FROM_ISIC, ISIC_COLUMNS
from skinbench.data.fingerprint import fingerprint
from skinbench.errors import DataError

METADATA_CSV = "HAM10000_metadata.csv"
REQUIRED_COLUMNS = ("lesion_id", "image_id", "dx", "age", "sex", "localization")
FRAME_COLUMNS = ["image_id", "lesion_id", "dx", "label", "age", "sex", "localization", "path"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
UNKNOWN = "unknown"
MAX_AGE = 120
EXAMPLES = 5
#: A CSV whose name starts with this belongs to the ISIC 2018 Task 3 test set, never to training.
TEST_PREFIX = "ISIC2018_Task3_Test"
TEST_LAYOUT = "isic2018-test"
#: ``Dataset.dropped``'s reason for the rows the ISIC 2018 scorer gives weight 0 (catalogue.ISIC2018_UNSCORED).
UNSCORED_REASON = f"score weight 0 in the ISIC 2018 scorer ({', '.join(ISIC2018_UNSCORED)})"
DOWNLOAD_HINT = (
    "download HAM10000 from https://doi.org/10.7910/DVN/DBW86T (HAM10000_metadata.csv and "
    "the two image zips) or the ISIC 2018 Task 3 training data from https://challenge.isic-archive.com/data/"
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data. ``examples`` names the first few images or rows."""

    kind: str
    message: str
    fatal: bool = False
    examples: tuple[str, ...] = ()


@dataclass
class Dataset:
    """A validated HAM10000 folder: one ``frame`` row per usable image (see FRAME_COLUMNS)."""

    root: Path
    layout: str
    frame: pd.DataFrame
    has_metadata: bool
    problems: list[Problem]
    dropped: dict[str, int]
    fingerprint: str
    listed: pd.Series = field(default_factory=lambda: pd.Series(0, index=list(CLASSES)))
    """Images per class as listed in the CSV, before any row was dropped."""

    @property
    def fatal_problems(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]


def check_data_dir(data_dir: Path | None) -> Path:
    """``data.data_dir`` as a folder that exists; a DataError saying how to get the data otherwise.

    Light (no image is read), so the command line answers a missing folder at once.
    """
    if data_dir is None:
        raise DataError(
            "no HAM10000 folder given: set data.data_dir to a folder holding either HAM10000_metadata.csv and the "
            "images (Dataverse/Kaggle layout; both recipes) or the ISIC 2018 Task 3 training images and "
            f"ground-truth CSV (augmented recipe only); 'skinbench data fetch FOLDER' downloads them, or "
            f"{DOWNLOAD_HINT}; or run on generated data with data.dataset synthetic",
            fields=("data.data_dir", "data.dataset"),
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass the folder that holds {METADATA_CSV}, or get the data with "
                        f"'skinbench data fetch {root}'")
    return root


def load_dataset(root: Path | str, *, strict: bool = False, require_metadata: bool = False) -> Dataset:
    """Load ``root``; raise ``DataError`` when the data cannot be used.

    ``strict`` turns missing images and impossible ages into errors (unreadable images are
    found by ``data.cache.build_cache``, which takes its own ``strict``). ``require_metadata``
    refuses layouts without age, sex and site.
    """
    dataset = inspect_dataset(root, strict=strict, require_metadata=require_metadata)
    raise_if_fatal(dataset)
    return dataset


def raise_if_fatal(dataset: Dataset) -> None:
    """Raise one ``DataError`` listing every fatal problem of ``dataset``, if any."""
    fatal = dataset.fatal_problems
    if fatal:
        raise DataError(f"{dataset.root} cannot be used: " + " | ".join(p.message for p in fatal))


def inspect_dataset(root: Path | str, *, strict: bool = False, require_metadata: bool = False) -> Dataset:
    """Read and validate ``root`` like ``load_dataset``, but return fatal problems instead of raising.

    Raises ``DataError`` only when nothing can be tabulated (no folder, no CSV, missing columns).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass the folder that holds {METADATA_CSV}, or {DOWNLOAD_HINT}")
    csv_path = _find_metadata_csv(root)
    if csv_path is not None:
        table, problems, layout, sources = _read_ham_csv(csv_path), [], "ham10000", [csv_path]
    else:
        table, problems, sources = _read_isic(root)
        layout = "isic2018"
    has_metadata = layout == "ham10000"
    if require_metadata and not has_metadata:
        problems.append(Problem(
            "no metadata",
            f"{root} is in the ISIC 2018 Task 3 layout, which has no age, sex or site; the metadata "
            f"recipe needs {METADATA_CSV} (Dataverse/Kaggle layout): add it to the folder, or use the 'augmented' recipe",
            fatal=True,
        ))

    problems += _check_labels(table, sources[0])
    problems += _check_duplicates(table, sources[0])
    listed = table["dx"].value_counts().reindex(list(CLASSES), fill_value=0)
    table = table[table["dx"].isin(CLASSES)].drop_duplicates("image_id", keep=False)

    dropped: dict[str, int] = {}
    if has_metadata:
        table, age_problems = _check_ages(table, sources[0], strict, dropped)
        problems += age_problems

    images, link_problems = _index_images(root)
    problems += link_problems
    table = table.assign(path=table["image_id"].map(images))
    missing = table[table["path"].isna()]
    if len(missing):
        dropped["image missing"] = len(missing)
        names = tuple(missing["image_id"].head(EXAMPLES))
        problems.append(Problem(
            "missing images",
            f"{len(missing):,} of the {len(table):,} images to use (listed in {sources[0].name}"
            f"{', with an age' if has_metadata else ''}) are not below {root} "
            f"(first: {', '.join(names)}); they are left out. Put the image files anywhere below the folder "
            "(file name = image_id + .jpg)",
            fatal=strict or len(missing) == len(table),
            examples=names,
        ))
    frame = _usable(table)
    return Dataset(
        root=root,
        layout=layout,
        frame=frame,
        has_metadata=has_metadata,
        problems=problems,
        dropped=dropped,
        fingerprint=fingerprint(sources, frame["image_id"], frame["path"]),
        listed=listed,
    )


def table2(dataset: Dataset) -> pd.DataFrame:
    """Class distribution as the paper's Table 2: one row per class plus ``total``.

    Columns: ``name``, ``images`` (usable), ``percent`` (of usable), ``listed`` (rows in the
    CSV before any drop) and, when the CSV lists as many images as HAM10000, ``paper`` (the
    paper's published counts, for comparison).
    """
    from skinbench.studies.do2022.published import published

    usable = dataset.frame["dx"].value_counts().reindex(list(CLASSES), fill_value=0)
    listed = dataset.listed.reindex(list(CLASSES), fill_value=0)
    table = pd.DataFrame({
        "name": [CLASS_NAMES[c] for c in CLASSES] + ["Total"],
        "images": [*usable.tolist(), int(usable.sum())],
        "percent": [*(100 * usable / max(usable.sum(), 1)).round(2).tolist(), 100.0 if usable.sum() else 0.0],
        "listed": [*listed.tolist(), int(listed.sum())],
    }, index=pd.Index([*CLASSES, "total"], name="class"))
    paper = published().table(2)["n_images"]
    if listed.sum() == paper["total"]:
        table["paper"] = paper.reindex(table.index).astype(int)
    return table


def _usable(table: pd.DataFrame) -> pd.DataFrame:
    """The rows whose image was found, as a Dataset frame (FRAME_COLUMNS, ``label`` an index into CLASSES)."""
    table = table[table["path"].notna()]
    frame = table.assign(label=table["dx"].map({c: i for i, c in enumerate(CLASSES)}).astype("int64"))
    return frame[FRAME_COLUMNS].reset_index(drop=True)


def read_metadata_csv(path: Path) -> pd.DataFrame:
    """Read ``HAM10000_metadata.csv`` as stripped strings (empty cells NaN), checking the required columns."""
    table = read_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{path} lacks the column(s) {', '.join(missing)}; a HAM10000 metadata file has "
            f"{','.join(REQUIRED_COLUMNS)} (plus dx_type and dataset); use the file from the download unchanged"
        )
    return table


def read_table(path: Path) -> pd.DataFrame:
    """A CSV as stripped strings; a file pandas cannot parse becomes a DataError naming it."""
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path}: {exc}; use the CSV from the download unchanged") from None
    table.columns = [str(c).strip() for c in table.columns]
    for column in table.columns:
        table[column] = table[column].str.strip()
    return table


def _read_ham_csv(path: Path) -> pd.DataFrame:
    table = read_metadata_csv(path)
    table["dx"] = table["dx"].str.lower()
    for column in ("sex", "localization"):
        table[column] = table[column].str.lower().fillna(UNKNOWN).replace("", UNKNOWN)
    table["lesion_id"] = table["lesion_id"].fillna(table["image_id"])
    table["csv_line"] = np.arange(len(table)) + 2
    return table


def _find_metadata_csv(root: Path) -> Path | None:
    found = sorted(root.rglob(METADATA_CSV), key=lambda p: (len(p.parts), str(p)))
    return found[0] if found else None


def _read_isic(root: Path) -> tuple[pd.DataFrame, list[Problem], list[Path]]:
    """Read ISIC 2018 Task 3 ground truth (all such CSVs below root) and lesion groupings."""
    truth, groupings = [], []
    for path in sorted(root.rglob("*.csv")):
        if path.name.startswith(TEST_PREFIX):  # the test set: load_test_set reads it, training never does
            continue
        try:
            header = pd.read_csv(path, nrows=0).columns.str.strip()
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        if "image" in header and set(ISIC_COLUMNS) <= set(header):
            truth.append(path)
        elif {"image", "lesion_id"} <= set(header):
            groupings.append(path)
    if not truth:
        raise DataError(
            f"no {METADATA_CSV} and no ISIC 2018 Task 3 ground-truth CSV (image,{','.join(ISIC_COLUMNS)}) "
            f"below {root}; {DOWNLOAD_HINT}"
        )
    parts = []
    for path in truth:
        part = read_table(path)
        parts.append(part.assign(csv_line=np.arange(len(part)) + 2, csv_name=path.name))
    table = pd.concat(parts, ignore_index=True)
    onehot = table[list(ISIC_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    valid = onehot.isin([0, 1]).all(axis=1) & (onehot.sum(axis=1) == 1)
    codes = onehot.idxmax(axis=1).map(FROM_ISIC)
    table = pd.DataFrame({
        "image_id": table["image"],
        "dx": codes.where(valid, "not one-hot"),
        "age": np.nan,
        "sex": UNKNOWN,
        "localization": UNKNOWN,
        "csv_line": table["csv_line"],
    })
    problems = []
    lesions = pd.concat([read_table(p) for p in groupings]) if groupings else None
    if lesions is not None:
        mapping = lesions.drop_duplicates("image").set_index("image")["lesion_id"]
        table["lesion_id"] = table["image_id"].map(mapping).fillna(table["image_id"])
    else:
        table["lesion_id"] = table["image_id"]
        problems.append(Problem(
            "no lesion_id",
            f"{truth[0].name} has no lesion_id, so each image counts as its own lesion and the 'lesion' "
            "split cannot keep images of one lesion together; add ISIC2018_Task3_Training_LesionGroupings.csv "
            f"or {METADATA_CSV} to the folder",
        ))
    return table, problems, truth + groupings


def find_test_set(root: Path | str) -> Path | None:
    """The ISIC 2018 Task 3 test set's ground-truth CSV below ``root``, or None.

    Candidates are the CSVs whose name starts with ``TEST_PREFIX`` and whose header is the
    HAM10000 metadata format or the one-hot ISIC format; one with age, sex and site is
    preferred, then the shallowest.
    """
    found = []
    for path in Path(root).expanduser().rglob(f"{TEST_PREFIX}*.csv"):
        try:
            header = set(pd.read_csv(path, nrows=0).columns.str.strip())
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        if set(REQUIRED_COLUMNS) <= header:
            found.append((0, len(path.parts), str(path), path))
        elif "image" in header and set(ISIC_COLUMNS) <= header:
            found.append((1, len(path.parts), str(path), path))
    return min(found)[3] if found else None


def load_test_set(root: Path | str, *, require_metadata: bool = False, strict: bool = False) -> Dataset:
    """The ISIC 2018 Task 3 test set below ``root`` as a ``Dataset`` (layout ``isic2018-test``).

    Its ``root`` is the ground-truth CSV (so its image cache never replaces the training
    data's). Every listed image found below ``root`` is kept, those without an age too (the
    metadata encoder gives them the training mean), so the evaluated set stays the whole test
    set, except the rows the official scorer gives weight 0 (``catalogue.ISIC2018_UNSCORED``),
    which are left out and counted in ``dropped``; ``has_metadata`` is True when the CSV carries
    age, sex and site. ``require_metadata`` makes a CSV without them fatal, naming it. Raises ``DataError`` when there is no test set
    or it cannot be used.
    """
    inspected = inspect_test_set(root, require_metadata=require_metadata, strict=strict)
    raise_if_fatal(inspected)
    return inspected


def inspect_test_set(root: Path | str, *, require_metadata: bool = False, strict: bool = False) -> Dataset:
    """Read and validate the test set like ``load_test_set``, returning fatal problems instead of raising."""
    root = Path(root).expanduser()
    csv_path = find_test_set(root) if root.is_dir() else None
    if csv_path is None:
        raise DataError(
            f"no ISIC 2018 Task 3 test set below {root}: the 'official' split reports on its "
            f"{ISIC2018_TEST_IMAGES:,} images; get them with 'skinbench data fetch {root} --with-test', "
            f"or place {TEST_PREFIX}_GroundTruth.csv and the test images in the folder"
        )
    table = read_table(csv_path)
    problems: list[Problem] = []
    if set(REQUIRED_COLUMNS) <= set(table.columns):
        has_metadata = True
        table = _read_ham_csv(csv_path)
        age = pd.to_numeric(table["age"], errors="coerce")
        impossible = table["age"].notna() & (age.isna() | (age < 0) | (age > MAX_AGE))
        if impossible.any():
            problems.append(Problem(
                "impossible age",
                f"{csv_path.name} {_rows(table.loc[impossible, 'csv_line'])}: age is not a number from 0 to "
                f"{MAX_AGE}; those test images are kept with no age",
                fatal=strict,
            ))
        table["age"] = age.where(~impossible)
        if table["age"].isna().any():
            problems.append(Problem(
                "missing age",
                f"{int(table['age'].isna().sum())} test images in {csv_path.name} have no age; they are kept "
                "(the metadata encoder gives them the training mean), so the whole test set is evaluated",
            ))
    else:
        has_metadata = False
        onehot = table[list(ISIC_COLUMNS)].apply(pd.to_numeric, errors="coerce")
        valid = onehot.isin([0, 1]).all(axis=1) & (onehot.sum(axis=1) == 1)
        table = pd.DataFrame({
            "image_id": table["image"],
            "lesion_id": table["image"],
            "dx": onehot.idxmax(axis=1).map(FROM_ISIC).where(valid, "not one-hot"),
            "age": np.nan,
            "sex": UNKNOWN,
            "localization": UNKNOWN,
            "csv_line": np.arange(len(table)) + 2,
        })
        if require_metadata:
            problems.append(Problem(
                "no test metadata",
                f"the metadata recipe on the 'official' split needs the age, sex and site of the test images, and "
                f"{csv_path} has only their one-hot labels: add the test set's metadata in the HAM10000 format "
                f"(a CSV named {TEST_PREFIX}*.csv with {','.join(REQUIRED_COLUMNS)}) below {root}, "
                "or use the 'augmented' recipe",
                fatal=True,
            ))
    problems += _check_labels(table, csv_path)
    problems += _check_duplicates(table, csv_path)
    listed = table["dx"].value_counts().reindex(list(CLASSES), fill_value=0)
    table = table[table["dx"].isin(CLASSES)].drop_duplicates("image_id", keep=False)
    dropped: dict[str, int] = {}
    unscored = table["image_id"].isin(ISIC2018_UNSCORED)
    if unscored.any():  # the official scorer gives it weight 0, so it is no part of the scored test set
        dropped[UNSCORED_REASON] = int(unscored.sum())
        table = table[~unscored]
    images, link_problems = _index_images(root)
    problems += link_problems
    table = table.assign(path=table["image_id"].map(images))
    missing = table[table["path"].isna()]
    if len(missing):
        dropped["image missing"] = len(missing)
        names = tuple(missing["image_id"].head(EXAMPLES))
        problems.append(Problem(
            "missing test images",
            f"{len(missing):,} of the {len(table):,} test images listed in {csv_path.name} are not below {root} "
            f"(first: {', '.join(names)}); they are left out of the test set. Get them with "
            f"'skinbench data fetch {root} --with-test'",
            fatal=strict or len(missing) == len(table),
            examples=names,
        ))
    frame = _usable(table)
    return Dataset(
        root=csv_path,
        layout=TEST_LAYOUT,
        frame=frame,
        has_metadata=has_metadata,
        problems=problems,
        dropped=dropped,
        fingerprint=fingerprint([csv_path], frame["image_id"], frame["path"]),
        listed=listed,
    )


def _rows(lines: pd.Series) -> str:
    shown = ", ".join(str(n) for n in lines.head(EXAMPLES))
    more = f" and {len(lines) - EXAMPLES} more" if len(lines) > EXAMPLES else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _check_labels(table: pd.DataFrame, csv_path: Path) -> list[Problem]:
    bad = table[~table["dx"].isin(CLASSES)]
    if bad.empty:
        return []
    values = ", ".join(repr(v) for v in bad["dx"].fillna("").unique()[:EXAMPLES])
    return [Problem(
        "unknown dx",
        f"{csv_path.name} {_rows(bad['csv_line'])}: unknown diagnosis {values}; dx must be one of "
        f"{', '.join(CLASSES)} (ISIC files: exactly one 1 per row); fix or remove those rows",
        fatal=True,
        examples=tuple(bad["image_id"].astype(str).head(EXAMPLES)),
    )]


def _check_duplicates(table: pd.DataFrame, csv_path: Path) -> list[Problem]:
    dup = table[table["image_id"].duplicated(keep=False)]
    if dup.empty:
        return []
    names = tuple(dup["image_id"].unique()[:EXAMPLES])
    return [Problem(
        "duplicate image_id",
        f"{csv_path.name} {_rows(dup['csv_line'])}: image_id listed more than once ({', '.join(names)}); "
        "keep one row per image",
        fatal=True,
        examples=names,
    )]


def _check_ages(
    table: pd.DataFrame, csv_path: Path, strict: bool, dropped: dict[str, int]
) -> tuple[pd.DataFrame, list[Problem]]:
    """Drop rows without an age (as the paper does) and rows whose age is impossible."""
    problems = []
    age = pd.to_numeric(table["age"], errors="coerce")
    missing = table["age"].isna()
    impossible = ~missing & (age.isna() | (age < 0) | (age > MAX_AGE))
    if missing.any():
        dropped["missing age"] = int(missing.sum())
        problems.append(Problem(
            "missing age",
            f"{int(missing.sum())} rows of {csv_path.name} have no age and are dropped, as in the paper "
            f"({_rows(table.loc[missing, 'csv_line'])})",
            examples=tuple(table.loc[missing, "image_id"].head(EXAMPLES)),
        ))
    if impossible.any():
        dropped["impossible age"] = int(impossible.sum())
        values = ", ".join(repr(v) for v in table.loc[impossible, "age"].head(EXAMPLES))
        problems.append(Problem(
            "impossible age",
            f"{csv_path.name} {_rows(table.loc[impossible, 'csv_line'])}: age {values} is not a number "
            f"from 0 to {MAX_AGE}; those rows are left out (fix the ages, or leave them empty)",
            fatal=strict,
            examples=tuple(table.loc[impossible, "image_id"].head(EXAMPLES)),
        ))
    keep = ~missing & ~impossible
    return table[keep].assign(age=age[keep].astype("float64")), problems


def _index_images(root: Path) -> tuple[dict[str, str], list[Problem]]:
    """Map file stem -> path for every image file below ``root`` (first in sorted order wins), and a
    problem naming the image names that are links leading to no file (dangling, a loop, a folder)."""
    images: dict[str, str] = {}
    broken: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() not in IMAGE_SUFFIXES:
                continue
            path = os.path.join(folder, name)
            if not os.path.isfile(path):  # follows links: False for a dangling one, a loop or a link to a folder
                broken.append(path)
            elif stem not in images:
                images[stem] = path
    if not broken:
        return images, []
    return images, [Problem(
        "broken links",
        f"{len(broken):,} image name(s) below {root} are links that lead to no file (dangling, or a loop; first: "
        f"{', '.join(broken[:EXAMPLES])}); they are left out, like missing images. Replace them with the image files",
        examples=tuple(broken[:EXAMPLES]),
    )]

"""``skinbench evaluate``: kept models scored on another dataset (external validation).

The dataset is read by its registry entry (``data.datasets``); each image is fed as in training
(``deploy.predict``: inference.json's size and resize rule, and for a metadata model the set's
age, sex and site encoded by the cell's encoder; a set lacking one of them is refused, naming
it). Results go to ``<cell>/external/<dataset>/`` (``records.EXTERNAL_DIR``): predictions.csv and
metrics.json for the images whose class has a HAM10000 counterpart, unmapped.csv for the others
(by their own class, never merged), groups.csv, and external.json last.

Before scoring, the external images are compared with the cell's training part
(``data.audit``: same bytes or near-identical pixels); shared images are named in a warning and
counted in external.json, as they make the external figure optimistic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from skinbench.classes import CLASSES
from skinbench.data.audit import find_pairs, hash_cache, hash_images
from skinbench.data.datasets import DATASETS, METADATA_FIELDS, DatasetEntry, ExternalSet, detect
from skinbench.data.ham10000 import METADATA_CSV, read_table
from skinbench.data.synthetic import PARAMETERS_FILE
from skinbench.deploy.model import KeptModel
from skinbench.deploy.predict import predict
from skinbench.errors import RunError
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import write_predictions
from skinbench.io import write_csv
from skinbench.records import (
    EXTERNAL_DIR,
    GROUP_COLUMNS,
    GROUPS_FILE,
    UNMAPPED_FILE,
    CellConfig,
    CellMetrics,
    ExternalInfo,
    read_split,
    split_file,
)

Warn = Callable[[str], None]
#: The metadata fields by the columns the metadata encoder reads.
ENCODER_COLUMNS = {"age": "age", "sex": "sex", "site": "localization"}


def choose_entry(data: Path, dataset: str | None) -> DatasetEntry:
    """``--dataset``'s entry, or the one whose layout ``data`` is in."""
    return DATASETS.get(dataset) if dataset else detect(data)


def ham10000_ids(entry: DatasetEntry, configs: list[CellConfig], ham10000: Path | None) -> frozenset:
    """The HAM10000 image ids to leave out of ``entry`` (empty unless it holds HAM10000's images).

    From ``ham10000`` (a HAM10000 folder) when given, else from the real HAM10000 folder each cell
    was trained on; RunError when a cell trained on a synthetic set (its ids are HAM10000's first
    ones, not all of them) and no folder is given."""
    if not entry.overlaps_ham10000:
        return frozenset()
    folders = [Path(ham10000)] if ham10000 is not None else [Path(c.dataset.root) for c in configs]
    synthetic = [c.cell_id for c in configs if c.dataset.synthetic or (Path(c.dataset.root) / PARAMETERS_FILE).is_file()]
    if ham10000 is None and synthetic:
        raise RunError(
            f"{entry.title} holds HAM10000's images, which are left out by image id, but {synthetic[0]} was trained on the "
            "synthetic set: pass --ham10000 DIR, the folder holding the real HAM10000_metadata.csv"
        )
    ids: set[str] = set()
    for folder in dict.fromkeys(folders):
        path = folder / METADATA_CSV
        if not path.is_file():
            raise RunError(f"{path}: missing; --ham10000 must name the folder holding HAM10000_metadata.csv")
        ids |= set(read_table(path)["image_id"])
    return frozenset(ids)


def check_metadata(kept: KeptModel, entry: DatasetEntry) -> None:
    """RunError when ``kept`` is a metadata model and ``entry`` lacks a field its encoder reads."""
    missing = [f for f in METADATA_FIELDS if f not in entry.metadata]
    if kept.needs_metadata and missing:
        raise RunError(
            f"{kept.folder} is a metadata model, and {entry.title} has no {', '.join(missing)}: it cannot be fed; "
            "evaluate an image-only (augmented) cell on it"
        )


def training_part(folder: Path, config: CellConfig) -> list[Path]:
    """The image files of the cell's training part (its run folder's split, its dataset's folder)."""
    split = read_split(Path(folder).parent / split_file(config.split, config.seed))
    ids = set(split.loc[split["part"] == "train", "image_id"])
    root = Path(config.dataset.root)
    if not root.is_dir():
        raise RunError(f"{root}: the cell's dataset folder is gone; its training images are compared with the external set")
    return sorted(p for p in root.rglob("*") if p.stem in ids and p.is_file())


@dataclass
class Overlap:
    """Hashes of the external set, and of each training part met, computed once per command."""

    external: pd.DataFrame
    training: dict[tuple[str, str], pd.DataFrame]

    @classmethod
    def of(cls, external: ExternalSet, warn: Warn) -> Overlap:
        return cls(hash_images(external.frame["path"], external.entry.name, warn, hash_cache()), {})

    def shared(self, folder: Path, config: CellConfig) -> pd.DataFrame:
        """Pairs of (training image, external image) that are duplicates."""
        key = (str(Path(folder).parent), f"{config.split}-{config.seed}")
        if key not in self.training:
            self.training[key] = hash_images(training_part(folder, config), "training part", cache=hash_cache())
        return find_pairs(self.training[key], self.external)


def evaluate_cell(
    kept: KeptModel, external: ExternalSet, *, shared: int | None, warn: Warn = lambda message: None,
    advance: Callable[[int], None] = lambda n: None,
) -> Path:
    """Score ``kept`` on ``external`` and write ``<cell>/external/<name>/``; returns that folder."""
    check_metadata(kept, external.entry)
    metadata = external.frame[["image_id", "age", "sex", "localization"]] if kept.needs_metadata else None
    frame = external.frame.set_index("image_id")
    scored = predict(kept, [Path(p) for p in frame["path"]], metadata, warn=warn, advance=advance)
    scored = scored.set_index("image")
    rows = frame.loc[scored.index]
    out = kept.folder / EXTERNAL_DIR / external.entry.name
    out.mkdir(parents=True, exist_ok=True)
    probabilities = scored[[c.upper() for c in CLASSES]].to_numpy(dtype=np.float64)
    mapped = rows["dx"].notna().to_numpy()
    labels = np.array([CLASSES.index(dx) for dx in rows["dx"][mapped]], dtype=int)
    write_predictions(out / "predictions.csv", rows.index[mapped].tolist(), labels, probabilities[mapped])
    CellMetrics("external", int(mapped.sum()), compute_metrics(labels, probabilities[mapped])).write(out)
    unmapped = scored[~mapped].reset_index().assign(source_class=rows["source_class"][~mapped].to_numpy())
    write_csv(out / UNMAPPED_FILE, unmapped, float_format="%.6g")
    groups = pd.DataFrame({"image": rows.index.to_numpy(), "group": rows["group"].to_numpy(), "source_class": rows["source_class"].to_numpy()})
    write_csv(out / GROUPS_FILE, groups[list(GROUP_COLUMNS)])
    unreadable = len(frame) - len(scored)
    excluded = {**external.excluded, **({"unreadable": unreadable} if unreadable else {})}
    entry = external.entry
    ExternalInfo(
        dataset=entry.name, title=entry.title, root=str(external.root), scored_part=entry.scored_part,
        group_key=entry.group_key, n_images=len(scored), n_mapped=int(mapped.sum()),
        unmapped={str(k): int(v) for k, v in rows["source_class"][~mapped].value_counts().sort_index().items()},
        excluded={str(k): int(v) for k, v in excluded.items()}, metadata=kept.needs_metadata, shared_with_training=shared,
        evaluated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    ).write(out)
    return out

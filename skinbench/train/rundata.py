"""The data a run prepares once and shares across its cells.

The dataset is loaded and validated once. The split of each (split, seed) is written to the
run folder as ``split-<split>-s<seed>.csv`` the first time and read back from there ever
after, so every cell of that seed, every shard and every rerun uses the identical split. The
metadata encoder of each split, the image cache of each image size and the offline-augmented
training set of each (size, split) are built before any cell trains (``RunData.prepare``) and
shared by the cells that need them; a failure to build one is kept too, so each cell that
needs it fails at once with that error while the others train.

The ``official`` split adds the ISIC 2018 Task 3 test set (``data.ham10000.load_test_set``)
as its ``test`` part: it has an image cache of its own, and is never in train or validation.
A run given that split loads the test set up front (a missing test set, or one without
age, sex and site for the metadata recipe, stops it before any cell starts), and its dataset
fingerprint covers the test set too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np
import pandas as pd

from skinbench.classes import CLASSES, NUM_CLASSES
from skinbench.catalogue import RECIPES
from skinbench.config import Cell
from skinbench.errors import DataError
from skinbench.records import CellConfig, DataInfo, split_file
from skinbench.train.inputs import CellInputs
from skinbench.train.resolve import DataSource

class Need(NamedTuple):
    """What one cell needs built before training: its image cache, split and augmented set."""

    image_size: int
    split: str
    seed: int
    augmented: bool
    augment_per_class: int | None  #: images per class of the augmented set (None: the paper's growth)


class RunData:
    """Everything the cells of one run read, each piece built once."""

    def __init__(
        self, source: DataSource, out: Path, *, need_metadata: bool, progress: bool = True, splits: Iterable[str] = ()
    ) -> None:
        from skinbench.data.ham10000 import load_dataset

        self.source = source
        self.out = Path(out)
        self.progress = progress
        self.need_metadata = need_metadata
        #: the training data (HAM10000); ``dataset`` is the same with the test set in its fingerprint
        self.training = self.dataset = load_dataset(source.root(progress=progress), require_metadata=need_metadata)
        self._test_set = None
        self._built: dict[tuple, Any] = {}
        if "official" in set(splits):
            test = self.test_set()
            combined = hashlib.sha256(f"{self.training.fingerprint}|{test.fingerprint}".encode()).hexdigest()[:20]
            self.dataset = dataclasses.replace(self.training, fingerprint=combined)

    def test_set(self):
        """The ISIC 2018 Task 3 test set below the data folder (the ``official`` split's test part)."""
        from skinbench.data.ham10000 import load_test_set

        if self._test_set is None:
            if self.source.name == "synthetic":
                raise DataError(
                    "the 'official' split reports on the ISIC 2018 Task 3 test set, which the synthetic dataset does "
                    "not have: fetch the data with 'skinbench data fetch DIR --with-test' and run with --data-dir DIR"
                )
            self._test_set = load_test_set(self.training.root, require_metadata=self.need_metadata, strict=self.source.strict)
        return self._test_set

    def prepare(self, needs: Iterable[Need]) -> None:
        """Build, before any cell trains, what cells need, in the order given.

        A piece that cannot be built is kept as its error for the cells that need it.
        """
        for size, split, seed, augmented, per_class in dict.fromkeys(needs):
            with contextlib.suppress(Exception):
                self.split(split, seed)
                self.cache(size)
                if split == "official":
                    self.test_cache(size)
                if augmented:
                    self.augmented(size, split, seed, per_class)

    def _once(self, key: tuple, build: Callable[[], Any]) -> Any:
        """``build()`` the first time ``key`` is asked for; its value (or its error) after that."""
        if key not in self._built:
            try:
                self._built[key] = build()
            except Exception as exc:  # kept so later cells fail the same way without rebuilding
                self._built[key] = exc
        value = self._built[key]
        if isinstance(value, Exception):
            raise value
        return value

    def split_path(self, split: str, seed: int) -> Path:
        return self.out / split_file(split, seed)

    def split(self, split: str, seed: int) -> pd.DataFrame:
        """The dataset frame with a ``part`` column (train/val/test): split ``split`` under ``seed``."""
        return self._once(("split", split, seed), lambda: self._split(split, seed))

    def _split(self, split: str, seed: int) -> pd.DataFrame:
        from skinbench.data.splits import OFFICIAL_SUBSET, load_split, make_split, save_split

        path = self.split_path(split, seed)
        images = self._split_frame(split)
        if path.exists():
            drawn = load_split(path)
        else:
            drawn = make_split(images, split, seed)
            save_split(drawn, path)
        frame = images.merge(drawn[["image_id", "part"]], on="image_id", how="left")
        moved = split == "official" and ((frame["part"] == "test") != (frame[OFFICIAL_SUBSET] == "test")).any()
        if frame["part"].isna().any() or len(drawn) != len(frame) or moved:
            raise DataError(
                f"{path} does not match the dataset in {self.dataset.root} ({len(drawn):,} split rows, "
                f"{len(frame):,} images); results folders hold one dataset: use another --out"
            )
        return frame

    def _split_frame(self, split: str) -> pd.DataFrame:
        """The rows a split divides: HAM10000, plus the test set (``subset`` = test) for ``official``."""
        from skinbench.data.splits import OFFICIAL_SUBSET

        if split != "official":
            return self.training.frame
        return pd.concat(
            [self.training.frame.assign(**{OFFICIAL_SUBSET: "train"}), self.test_set().frame.assign(**{OFFICIAL_SUBSET: "test"})],
            ignore_index=True,
        )

    def encoder(self, split: str, seed: int):
        """The metadata encoder fitted on this split's training part."""
        from skinbench.data.metadata import MetadataEncoder

        def fit():
            frame = self.split(split, seed)
            return MetadataEncoder().fit(frame[frame["part"] == "train"])

        return self._once(("encoder", split, seed), fit)

    def cache(self, size: int):
        """The decoded, resized uint8 images at ``size`` pixels."""
        from skinbench.data.cache import build_cache

        return self._once(
            ("cache", size), lambda: build_cache(self.training, size, rule="crop", strict=self.source.strict, progress=self.progress)
        )

    def test_cache(self, size: int):
        """The ISIC 2018 Task 3 test set's images at ``size`` pixels (a cache of its own)."""
        from skinbench.data.cache import build_cache

        return self._once(
            ("test-cache", size),
            lambda: build_cache(self.test_set(), size, rule="crop", strict=self.source.strict, progress=self.progress),
        )

    def part_cache(self, split: str, part: str, size: int):
        """The image cache that holds a part: the test set's for ``official``'s test part, else the training data's."""
        return self.test_cache(size) if split == "official" and part == "test" else self.cache(size)

    def augmented(self, size: int, split: str, seed: int, per_class: int | None = None):
        """The offline-augmented training set of this split at ``size`` pixels: every class grown to
        ``per_class`` images, or with None the paper's growth (10,015 to 18,015 images, scaled to the
        training part: data.augment's default)."""
        from skinbench.data.augment import augment_offline, per_class_target_total

        def build():
            train = self.part(split, seed, "train", size)
            cache = self.cache(size)
            rows, labels = cache.rows(train["image_id"]), train["label"].to_numpy()
            target = None if per_class is None else per_class_target_total(labels, per_class)
            return augment_offline(cache, rows, labels, target, seed=seed, progress=self.progress)

        return self._once(("augmented", size, split, seed, per_class), build)

    def n_train(self, split: str, seed: int) -> int:
        """Images in the split's training part, before augmentation (the notebooks' ``len(train_df)``)."""
        return int((self.split(split, seed)["part"] == "train").sum())

    def part(self, split: str, seed: int, part: str, size: int) -> pd.DataFrame:
        """One part of a split, without the images the cache at ``size`` could not read.

        Unreadable images are named by the cache (or stop the run with ``--strict``); they stay
        in the split file, so the split does not depend on which files happen to be corrupt.
        """
        frame = self.split(split, seed)
        return self.part_cache(split, part, size).drop_failed(frame[frame["part"] == part].reset_index(drop=True))

    def inputs(self, cell: Cell, config: CellConfig) -> CellInputs:
        """Batches for one cell as its config.json says: training (augmented or not; its schedule's
        batches per epoch, None: one pass less the remainder), validation and the reported part, and
        the loss's class weights by its schedule's rule."""
        from skinbench.data.pipeline import Batches
        from skinbench.data.splits import reported_part

        recipe = RECIPES[cell.recipe]
        size, batch_size, metadata, schedule = config.image_size, config.batch_size, config.metadata, config.schedule
        epoch_steps = schedule.epoch_steps
        cache = self.cache(size)
        encoder = self.encoder(cell.split, cell.seed) if metadata else None

        def batches(frame: pd.DataFrame, shuffle: bool, cache=cache) -> Batches:
            features = encoder.transform(frame) if encoder is not None else None
            return Batches(
                cache.images, cache.rows(frame["image_id"]), frame["label"].to_numpy(), features,
                batch_size=batch_size, shuffle=shuffle, seed=cell.seed, steps=epoch_steps if shuffle else None,
            )

        train_frame = self.part(cell.split, cell.seed, "train", size)
        if recipe.augmented:
            augmented = self.augmented(size, cell.split, cell.seed, schedule.augment_per_class)
            train = Batches(
                augmented.images, np.arange(len(augmented.labels)), augmented.labels, None,
                batch_size=batch_size, shuffle=True, seed=cell.seed, steps=epoch_steps,
            )
            n_train = len(augmented.labels)
        else:
            train, n_train = batches(train_frame, shuffle=True), len(train_frame)
        val_frame = self.part(cell.split, cell.seed, "val", size)
        val = batches(val_frame, shuffle=False)
        part = reported_part(cell.split)
        report_frame = self.part(cell.split, cell.seed, part, size)
        report = val if part == "val" else batches(report_frame, shuffle=False, cache=self.part_cache(cell.split, part, size))
        class_weights = None
        if schedule.class_weights is not None:
            from skinbench.train.loss import weights_by_rule

            class_weights = weights_by_rule(schedule.class_weights, train_frame["label"].to_numpy(), NUM_CLASSES)
        return CellInputs(
            train=train,
            val=val,
            val_labels=val_frame["label"].to_numpy(),
            report=report,
            report_part=part,
            report_ids=report_frame["image_id"].tolist(),
            report_labels=report_frame["label"].to_numpy(),
            n_train_images=n_train,
            class_weights=class_weights,
            resize_rule=cache.rule,
            encoder=encoder.to_dict() if encoder is not None else None,
            val_ids=val_frame["image_id"].tolist(),
        )

    def metadata_features(self, split: str, seed: int) -> int:
        return self.encoder(split, seed).n_features

    def describe(self, splits: list[tuple[str, int]]) -> DataInfo:
        """data.json: the dataset, its class counts, dropped rows and each split's sizes per class."""
        dataset = self.dataset
        counts = dataset.frame["dx"].value_counts()
        sizes = {}
        for split, seed in splits:
            frame = self.split(split, seed)
            table = pd.crosstab(frame["part"], frame["dx"]).reindex(columns=list(CLASSES), fill_value=0)
            sizes[f"{split}-s{seed}"] = {
                part: {c: int(n) for c, n in row.items()} for part, row in table.iterrows()
            }
        return DataInfo(
            name=self.source.name,
            synthetic=self.source.name == "synthetic",
            root=str(dataset.root),
            layout=dataset.layout,
            has_metadata=dataset.has_metadata,
            fingerprint=dataset.fingerprint,
            n_images=len(dataset.frame),
            class_counts={c: int(counts.get(c, 0)) for c in CLASSES},
            dropped=dict(dataset.dropped),
            problems=[p.message for p in dataset.problems],
            splits=sizes,
        )

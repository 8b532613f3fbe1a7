"""Metrics of every finished cell, recomputed from predictions.csv, and their means across seeds.

A group is one (backbone, recipe, ablation row, split): the cells that differ only by seed.
Each number a table shows is a ``Stat`` of a group: the mean and sample standard deviation
over its seeds and, for the bootstrapped metrics, a 95% interval of that mean.

Each cell's bootstrap draws from its own stream, ``bootstrap_stream(base seed, cell id)``: no two
cells share resamples (a group's interval averages independent resamples of its seeds), and the
same run folders always give the same report. It resamples lesions, each with all its reported
images (the run folder's split file names each image's lesion): images of one lesion are not
independent, and resampling them one by one would make the intervals too narrow.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from skinbench.catalogue import ABLATION_ROWS, RECIPES, display_name
from skinbench.errors import SkinbenchError
from skinbench.eval.metrics import aggregate_seeds, bootstrap, compute_metrics, flatten, intervals
from skinbench.records import FINISHED, ModelSummary, Record, Timing
from skinbench.report.runs import CellFolder, Results


class GroupKey(NamedTuple):
    backbone: str
    recipe: str | None
    ablation: str | None
    split: str

    def label(self, *, with_row_key: bool = False) -> str:
        """"DenseNet201 + Metadata and WeightLoss" or "MobileNetV3Large [:240]" (``with_row_key``: "... [cut240]")."""
        if self.ablation is not None:
            row = ABLATION_ROWS.get(self.ablation)
            key = f" [{self.ablation}]" if with_row_key else ""
            return f"{display_name(self.backbone)} {row.label if row else self.ablation}{key}"
        recipe = RECIPES.get(self.recipe or "", None)
        return f"{display_name(self.backbone)} + {recipe.label if recipe else self.recipe}"


@dataclass(frozen=True)
class Stat:
    """One number of this run: mean over seeds, sample std (None for one seed), seed count, CI."""

    mean: float | None
    std: float | None = None
    n: int = 1
    ci_low: float | None = None
    ci_high: float | None = None

    def scaled(self, factor: float) -> Stat:
        """The same statistic in other units (e.g. parameters in millions)."""

        def scale(value: float | None) -> float | None:
            return None if value is None else value * factor

        return Stat(scale(self.mean), scale(self.std), self.n, scale(self.ci_low), scale(self.ci_high))


@dataclass(frozen=True)
class CellResult:
    """A finished cell: its predictions, their metrics, history.csv, and the scalars of model.json and timing.json."""

    cell: CellFolder
    image_ids: np.ndarray  #: the reported images, in predictions.csv's order
    y_true: np.ndarray
    probs: np.ndarray
    lesions: np.ndarray  #: each reported image's lesion (the split file's), what the bootstrap resamples
    metrics: dict[str, Any]
    history: pd.DataFrame | None
    values: dict[str, float | None]  # flatten(metrics) plus "model.<key>" and "timing.<key>" (RECORD_VALUES)
    samples: dict[str, np.ndarray] | None  # bootstrap resamples, None when skipped
    ci: dict[str, dict[str, float | None]] | None

    @property
    def key(self) -> GroupKey:
        c = self.cell
        return GroupKey(c.backbone, c.recipe, c.ablation, c.split)


@dataclass(frozen=True)
class Summary:
    """Everything the tables and plots need from the run folders."""

    results: Results
    cells: tuple[CellResult, ...]
    unfinished: tuple[CellFolder, ...]  # failed or pending, including finished cells whose files are unusable
    bootstrap_n: int
    bootstrap_seed: int = 0  # the base seed of every cell's bootstrap_stream

    @cached_property
    def groups(self) -> dict[GroupKey, list[CellResult]]:
        groups: dict[GroupKey, list[CellResult]] = {}
        for result in self.cells:
            groups.setdefault(result.key, []).append(result)
        return groups

    @cached_property
    def splits(self) -> list[str]:
        return sorted({key.split for key in self.groups}, key=lambda s: (s != "paper", s))

    def where(self, **fields: Any) -> list[GroupKey]:
        """Groups whose fields equal the given ones (``ablation=None`` matches non-ablation cells), by split."""
        keys = [k for k in self.groups if all(getattr(k, name) == value for name, value in fields.items())]
        return sorted(keys, key=lambda k: self.splits.index(k.split))

    def split_suffix(self, key: GroupKey) -> str:
        """A label suffix naming the split, needed only when the run has several."""
        return f" [{key.split} split]" if len(self.splits) > 1 else ""

    def stat(self, key: GroupKey, metric: str) -> Stat | None:
        """``metric`` (a ``flatten`` key, ``model.*`` or ``timing.*``) of a group, or None when absent."""
        _check_record_key(metric)
        aggregated = self._aggregated[key].get(metric)
        if aggregated is None or aggregated["mean"] is None:
            return None
        interval = self._intervals[key].get(metric, {}) if key in self._intervals else {}
        return Stat(aggregated["mean"], aggregated["std"], aggregated["n"], interval.get("low"), interval.get("high"))

    @cached_property
    def _aggregated(self) -> dict[GroupKey, dict[str, dict[str, Any]]]:
        return {key: aggregate_seeds([r.values for r in members]) for key, members in self.groups.items()}

    @cached_property
    def _intervals(self) -> dict[GroupKey, dict[str, dict[str, float | None]]]:
        return {
            key: intervals([r.samples for r in members])
            for key, members in self.groups.items()
            if all(r.samples is not None for r in members)
        }


def summarise(results: Results, bootstrap_n: int = 1000, bootstrap_seed: int = 0) -> Summary:
    """Recompute every finished cell's metrics from its predictions (``bootstrap_n`` 0 skips the CIs).

    ``bootstrap_seed`` is the base seed; each cell resamples from ``bootstrap_stream(bootstrap_seed, cell id)``.
    """
    done: list[CellResult] = []
    unfinished: list[CellFolder] = []
    for cell in results.cells:
        if cell.status != FINISHED:
            unfinished.append(cell)
            continue
        try:
            done.append(_cell_result(cell, bootstrap_n, bootstrap_seed))
        except SkinbenchError as exc:
            unfinished.append(cell.failed(str(exc)))
    return Summary(results, tuple(done), tuple(unfinished), bootstrap_n, bootstrap_seed)


def bootstrap_stream(base_seed: int, cell_id: str) -> np.random.SeedSequence:
    """The bootstrap stream of one cell: ``SeedSequence([base_seed, CRC-32 of the UTF-8 cell id])``."""
    return np.random.SeedSequence([base_seed, zlib.crc32(cell_id.encode("utf-8"))])


def _cell_result(cell: CellFolder, bootstrap_n: int, bootstrap_seed: int) -> CellResult:
    image_ids, y_true, probs = cell.predictions()
    lesions = cell.lesions(image_ids)
    metrics = compute_metrics(y_true, probs)
    values = flatten(metrics)
    for prefix, record_type in RECORD_VALUES.items():
        record = record_type.read_if_present(cell.path)
        if record is not None:
            values.update({f"{prefix}.{k}": v for k, v in asdict(record).items() if _is_number(v)})
    stream = bootstrap_stream(bootstrap_seed, cell.cell_id)
    samples = bootstrap(y_true, probs, bootstrap_n, stream, clusters=lesions) if bootstrap_n else None
    ci = intervals([samples]) if samples is not None else None
    return CellResult(cell, np.asarray(image_ids), y_true, probs, lesions, metrics, cell.history(), values, samples, ci)


#: The records whose numbers a group's values hold, under ``<prefix>.<key>``.
RECORD_VALUES: dict[str, type[Record]] = {"model": ModelSummary, "timing": Timing}


def _check_record_key(metric: str) -> None:
    """A ``model.*`` or ``timing.*`` name must be a key of that record (a typo is a bug, not a missing value)."""
    prefix, _, key = metric.partition(".")
    if prefix in RECORD_VALUES and key not in RECORD_VALUES[prefix].keys():
        raise ValueError(f"{metric}: {RECORD_VALUES[prefix].FILE} has no key {key!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

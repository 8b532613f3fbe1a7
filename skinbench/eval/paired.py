"""Paired comparisons of two cells evaluated on the same images, and their summary over seeds.

Two cells of the same split and seed report on the same images (the split is one per seed,
shared by every cell). Comparing them on those images, image by image, removes the
variation of the images themselves from their difference:

- ``align`` matches the cells' predictions by image id (predictions.csv ``image``) and checks
  that both hold the same images with the same labels.
- ``paired_bootstrap`` resamples the shared images once per resample, for both cells, and
  gives the per-resample difference ``a - b`` of each metric. Given each image's lesion
  (``clusters``), it resamples lesions, each with all its images (``eval.metrics.resample_counts``):
  images of one lesion are not independent. The metrics are
  ``eval.metrics.resampled_metrics``' (so a class with no image in a resample is left out of
  that resample's macro means, for both cells alike) plus the spread of the per-class F1 and
  recall across the classes present (``SPREAD_METRICS``). The 95% interval is the 2.5th and
  97.5th percentiles of those differences (``percentile_interval``).
- ``mcnemar`` tests correctness: McNemar's exact test, a two-sided binomial test
  (``scipy.stats.binomtest``, p = 0.5) of the images only one cell gets right, when every image is
  its own lesion; with lesions of several images, McNemar's test for clustered pairs (Durkalski et
  al. 2003): the per-lesion differences of discordant images, (sum d)^2 / sum d^2, against
  chi-square with 1 degree of freedom.
- ``over_seeds`` summarises one comparison repeated over seeds: the mean difference, its
  sample standard deviation, and from three seeds on a t interval of the mean
  (``scipy.stats.t``), which, unlike the bootstrap, covers retraining and a new split.
  ``welch_interval`` does the same for two groups trained apart (the leak's splits): Welch's t
  interval of the difference of their means over seeds, from three seeds a side.

A side of a comparison may be several cells (a group mean, e.g. every deep backbone): its
value is the unweighted mean of its cells' values, in every resample alike. Keras-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from skinbench.errors import RunError
from skinbench.eval.metrics import BOOTSTRAP_METRICS, compute_metrics, resample_counts, resampled_metrics

#: The metrics a paired comparison reports, in order.
PAIRED_METRICS = ("balanced_accuracy", "accuracy", "macro_f1")
#: Standard deviation (ddof 0) of the per-class F1 / recall over the classes present: how unbalanced
#: the per-class scores are (the paper's measure of balance, e.g. "standard deviation is less than 0.15").
SPREAD_METRICS = ("f1_spread", "recall_spread")
#: Every metric ``point_values`` and ``resampled_values`` give.
METRICS = (*BOOTSTRAP_METRICS, *SPREAD_METRICS)
#: What ``mcnemar`` runs, as the report and ``skinbench compare`` name it: on images that are each their own
#: lesion, and on images grouped in lesions.
MCNEMAR_TEST = "McNemar's exact test: two-sided binomial test of the discordant images (scipy.stats.binomtest, p = 0.5)"
CLUSTERED_MCNEMAR_TEST = (
    "McNemar's test for clustered pairs (Durkalski, Palesch, Lipsitz & Rust 2003, Stat Med 22:2417-2428): "
    "(sum over lesions of d)^2 / sum of d^2, d = a's minus b's discordant images of the lesion, against chi-square(1)"
)
LEVEL = 0.95

Probs = np.ndarray | Sequence[np.ndarray]  # one cell's (N, K) probabilities, or several cells' (a group mean)


@dataclass(frozen=True)
class Aligned:
    """Predictions of several cells on the same images, in one image order."""

    image_ids: np.ndarray
    y_true: np.ndarray
    probs: tuple[np.ndarray, ...]  # one (N, K) array per cell, rows in ``image_ids`` order


def align(predictions: Sequence[tuple[Sequence[str], Sequence[int], np.ndarray]], names: Sequence[str]) -> Aligned:
    """Match cells' ``(image_ids, y_true, probs)`` by image id (the first cell's order).

    RunError naming the cells when they do not hold the same images, or give one image two labels.
    """
    if not predictions:
        raise ValueError("align needs at least one cell's predictions")
    ids0 = np.asarray(predictions[0][0]).astype(str)
    y0 = np.asarray(predictions[0][1], dtype=np.int64)
    if len(set(ids0)) != len(ids0):
        raise RunError(f"{names[0]}: predictions.csv names an image twice")
    position = {image: row for row, image in enumerate(ids0)}
    aligned = [np.asarray(predictions[0][2], dtype=np.float64)]
    for (ids, y_true, probs), name in zip(predictions[1:], names[1:]):
        ids = np.asarray(ids).astype(str)
        if len(ids) != len(ids0) or set(ids) != set(ids0):
            shared = len(set(ids) & set(ids0))
            raise RunError(
                f"{names[0]} and {name} were not evaluated on the same images ({len(ids0)} and {len(ids)} images, "
                f"{shared} shared); a paired comparison needs two cells of the same split and seed on the same data"
            )
        order = np.array([position[image] for image in ids])
        if not np.array_equal(y0[order], np.asarray(y_true, dtype=np.int64)):
            raise RunError(f"{names[0]} and {name} give the same images different true labels; were they run on the same data?")
        rows = np.empty_like(order)
        rows[order] = np.arange(len(order))  # rows[i]: this cell's row of image ids0[i]
        aligned.append(np.asarray(probs, dtype=np.float64)[rows])
    return Aligned(ids0, y0, tuple(aligned))


def point_values(y_true: np.ndarray, probs: Probs) -> dict[str, float]:
    """Every metric of METRICS on all the images (a group: the mean over its cells)."""
    per_cell = []
    for p in _cells(probs):
        metrics = compute_metrics(y_true, p)
        values = {m: _float(metrics[m]) for m in BOOTSTRAP_METRICS}
        present = [c for c in metrics["per_class"].values() if c["support"] > 0]
        values["f1_spread"] = float(np.std([c["f1"] for c in present]))
        values["recall_spread"] = float(np.std([c["recall"] for c in present]))
        per_cell.append(values)
    return {m: _nanmean([v[m] for v in per_cell]) for m in METRICS}


def resampled_values(counts: np.ndarray, y_true: np.ndarray, probs: Probs) -> dict[str, np.ndarray]:
    """Every metric of METRICS for each row of ``counts`` (a group: the mean over its cells)."""
    per_cell = []
    for p in _cells(probs):
        values = resampled_metrics(counts, y_true, p)
        recall, f1 = _resampled_per_class(counts, y_true, p)
        values["f1_spread"] = _nanstd_rows(f1)
        values["recall_spread"] = _nanstd_rows(recall)
        per_cell.append(values)
    return {m: _side_mean([v[m] for v in per_cell]) for m in METRICS}


def paired_bootstrap(
    y_true: np.ndarray, probs_a: Probs, probs_b: Probs, n: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator = 0, clusters: Sequence | None = None,
) -> dict[str, np.ndarray]:
    """Per-resample difference ``a - b`` of every metric of METRICS, resampling the shared images (or their
    ``clusters``, each image's lesion) once for both."""
    y_true = np.asarray(y_true, dtype=np.int64)
    counts = resample_counts(len(y_true), n, seed, clusters)
    a, b = resampled_values(counts, y_true, probs_a), resampled_values(counts, y_true, probs_b)
    return {m: a[m] - b[m] for m in METRICS}


def percentile_interval(samples: np.ndarray | Sequence[np.ndarray], level: float = LEVEL) -> tuple[float | None, float | None]:
    """Percentile interval of bootstrap samples; several arrays (one per seed, same ``n``) are averaged
    resample by resample first (the interval of the mean over seeds). NaN resamples are left out."""
    means = _side_mean(np.atleast_2d(np.asarray(samples, dtype=np.float64)))
    means = means[~np.isnan(means)]
    if not means.size:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on two cells' correctness over the same images (exact, or for clustered pairs)."""

    a_only: int  # images only cell a classifies correctly (b in McNemar's table)
    b_only: int  # images only cell b classifies correctly (c)
    p_value: float
    test: str = MCNEMAR_TEST


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool], clusters: Sequence | None = None) -> McNemar:
    """Two-sided McNemar test of correctness; p = 1 with no discordant image.

    Every image its own lesion (``clusters`` None or all distinct): the exact test,
    binomtest(a_only, a_only + b_only, 0.5). Lesions of several images: Durkalski et al.'s test for
    clustered matched pairs, which is the (uncorrected) McNemar chi-square when no lesion has two images.
    """
    from scipy.stats import binomtest, chi2

    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"correctness of {correct_a.shape} and {correct_b.shape} images")
    only_a, only_b = correct_a & ~correct_b, ~correct_a & correct_b
    a_only, b_only = int(only_a.sum()), int(only_b.sum())
    codes = None if clusters is None else pd.factorize(np.asarray(clusters), sort=False)[0]
    if codes is None or codes.max(initial=-1) + 1 == len(codes):
        p_value = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
        return McNemar(a_only, b_only, p_value)
    per_lesion = np.bincount(codes, weights=only_a.astype(float)) - np.bincount(codes, weights=only_b.astype(float))
    squares = float((per_lesion**2).sum())
    p_value = 1.0 if squares == 0 else float(chi2.sf(per_lesion.sum() ** 2 / squares, df=1))
    return McNemar(a_only, b_only, p_value, CLUSTERED_MCNEMAR_TEST)


@dataclass(frozen=True)
class PairedResult:
    """Two cells (or groups) on the same images: values, differences a - b, 95% intervals, McNemar."""

    n_images: int
    a: dict[str, float]
    b: dict[str, float]
    difference: dict[str, float]
    samples: dict[str, np.ndarray] | None  # per-resample differences; None without a bootstrap
    interval: dict[str, tuple[float | None, float | None]]
    mcnemar: McNemar | None  # only between two single cells


def compare_paired(
    y_true: np.ndarray, probs_a: Probs, probs_b: Probs, *, n: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator = 0, level: float = LEVEL, clusters: Sequence | None = None,
) -> PairedResult:
    """The paired comparison of ``a`` and ``b`` on the same images (``n`` 0: no bootstrap, no interval).

    ``clusters``: each image's lesion; the bootstrap then resamples lesions and the test of
    correctness is the clustered one (``mcnemar``).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    a, b = point_values(y_true, probs_a), point_values(y_true, probs_b)
    difference = {m: a[m] - b[m] for m in METRICS}
    samples = paired_bootstrap(y_true, probs_a, probs_b, n, seed, clusters) if n else None
    interval = {m: percentile_interval(samples[m], level) if samples else (None, None) for m in METRICS}
    single = not _is_group(probs_a) and not _is_group(probs_b)
    test = None
    if single:
        correct_a, correct_b = np.asarray(probs_a).argmax(axis=1) == y_true, np.asarray(probs_b).argmax(axis=1) == y_true
        test = mcnemar(correct_a, correct_b, clusters)
    return PairedResult(len(y_true), a, b, difference, samples, interval, test)


@dataclass(frozen=True)
class SeedSummary:
    """One comparison over seeds: mean difference, sample sd, seeds, and a t interval from three seeds on."""

    mean: float | None
    std: float | None  # None below two seeds
    n: int
    t_low: float | None = None  # None below three seeds
    t_high: float | None = None


MIN_SEEDS_FOR_T = 3


def over_seeds(differences: Sequence[float | None], level: float = LEVEL) -> SeedSummary:
    """Mean, sample standard deviation and (from MIN_SEEDS_FOR_T seeds) Student's t interval of the mean."""
    values = np.array([d for d in differences if d is not None and not np.isnan(d)], dtype=np.float64)
    if not values.size:
        return SeedSummary(None, None, 0)
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else None
    if values.size < MIN_SEEDS_FOR_T:
        return SeedSummary(mean, std, int(values.size))
    from scipy import stats

    if std == 0:
        return SeedSummary(mean, std, int(values.size), mean, mean)
    low, high = stats.t.interval(level, df=values.size - 1, loc=mean, scale=std / np.sqrt(values.size))
    return SeedSummary(mean, std, int(values.size), float(low), float(high))


def t_sides(differences: Sequence[float | None], threshold: float = 0.0) -> tuple[float, float] | None:
    """One-sided p-values of the mean difference over seeds against ``threshold``, from Student's t
    (``scipy.stats.ttest_1samp``): (p that it lies above, p that it lies below). None below MIN_SEEDS_FOR_T seeds."""
    from scipy import stats

    values = np.array([d for d in differences if d is not None and not np.isnan(d)], dtype=np.float64)
    if values.size < MIN_SEEDS_FOR_T:
        return None
    if values.std() == 0:  # every seed the same difference: certain on its side, undecided on the threshold
        above, below = values[0] > threshold, values[0] < threshold
        return (0.0 if above else 1.0), (0.0 if below else 1.0)
    return (float(stats.ttest_1samp(values, threshold, alternative="greater").pvalue),
            float(stats.ttest_1samp(values, threshold, alternative="less").pvalue))


def bootstrap_sides(samples: np.ndarray | Sequence[np.ndarray], threshold: float = 0.0) -> tuple[float, float] | None:
    """One-sided bootstrap p-values against ``threshold`` (several seeds' samples averaged resample by resample, as
    ``percentile_interval``): ((1 + #resamples at or below) / (B + 1), (1 + #at or above) / (B + 1)), the test
    that the percentile interval inverts (Davison & Hinkley 1997, section 4.4). None without samples."""
    means = _side_mean(np.atleast_2d(np.asarray(samples, dtype=np.float64)))
    means = means[~np.isnan(means)]
    if not means.size:
        return None
    total = means.size + 1
    return float((1 + (means <= threshold).sum()) / total), float((1 + (means >= threshold).sum()) / total)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (Holm 1979, Scand J Statist 6:65-70): the i-th
    smallest times (m - i + 1), made non-decreasing in that order, at most 1. It controls the chance of any
    false rejection in the family, whatever the dependence between its tests."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[index])))
        adjusted[index] = running
    return adjusted.tolist()


def welch_interval(
    values_a: Sequence[float], values_b: Sequence[float], level: float = LEVEL
) -> tuple[float | None, float | None]:
    """Welch's t interval of mean(a) - mean(b) over seeds (``scipy.stats.ttest_ind(equal_var=False)``), for
    two groups of cells trained apart: it covers retraining and a new split, which a bootstrap of the images
    does not. None below MIN_SEEDS_FOR_T values a side."""
    from scipy import stats

    a = np.array([v for v in values_a if v is not None and not np.isnan(v)], dtype=np.float64)
    b = np.array([v for v in values_b if v is not None and not np.isnan(v)], dtype=np.float64)
    if min(a.size, b.size) < MIN_SEEDS_FOR_T:
        return None, None
    if a.std() == 0 and b.std() == 0:  # no spread on either side: the interval is the difference itself
        return float(a.mean() - b.mean()), float(a.mean() - b.mean())
    interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return float(interval.low), float(interval.high)


def unpaired_interval(
    samples_a: Sequence[np.ndarray], samples_b: Sequence[np.ndarray], level: float = LEVEL
) -> tuple[float | None, float | None]:
    """Interval of mean(a) - mean(b) for cells on different images, from each side's own bootstrap.

    Each side's cells (seeds) are averaged resample by resample; resample r of ``a`` minus resample r
    of ``b`` is a draw of the difference, since the two sides resample independently.
    """
    return percentile_interval(_side_mean(samples_a) - _side_mean(samples_b), level)


def _side_mean(samples: Sequence[np.ndarray]) -> np.ndarray:
    """The mean over cells of each resample, over the cells where it is defined (NaN where none is)."""
    stacked = np.stack([np.asarray(s, dtype=np.float64) for s in samples])
    defined = ~np.isnan(stacked)
    total = np.where(defined, stacked, 0.0).sum(axis=0)
    return np.where(defined.any(axis=0), total / np.maximum(defined.sum(axis=0), 1), np.nan)


def _resampled_per_class(counts: np.ndarray, y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class recall and F1 = 2TP / (2TP + FP + FN) for each resample, NaN for a class the resample lacks."""
    counts = np.asarray(counts, dtype=np.float64)
    k = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    actual = counts @ np.eye(k)[y_true]  # (n, k) true images per class
    predicted = counts @ np.eye(k)[y_pred]
    tp = counts @ (np.eye(k)[y_true] * (y_true == y_pred)[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        present = actual > 0
        return np.where(present, tp / actual, np.nan), np.where(present, 2 * tp / (actual + predicted), np.nan)


def _nanstd_rows(values: np.ndarray) -> np.ndarray:
    """Standard deviation (ddof 0) of each row over its non-NaN entries; NaN for an all-NaN row."""
    defined = ~np.isnan(values)
    count = defined.sum(axis=1)
    mean = np.where(defined, values, 0.0).sum(axis=1) / np.maximum(count, 1)
    squares = np.where(defined, (values - mean[:, None]) ** 2, 0.0).sum(axis=1)
    return np.where(count > 0, np.sqrt(squares / np.maximum(count, 1)), np.nan)


def _cells(probs: Probs) -> list[np.ndarray]:
    return [np.asarray(p, dtype=np.float64) for p in probs] if _is_group(probs) else [np.asarray(probs, dtype=np.float64)]


def _is_group(probs: Probs) -> bool:
    return not isinstance(probs, np.ndarray) or probs.ndim == 3


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


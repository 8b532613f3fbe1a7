"""Classification metrics from true labels and class probabilities.

Definitions (../shared/METHOD.md, Metrics):

- A class is *absent* when ``y_true`` holds no image of it. Every macro mean (precision,
  recall, specificity, F1, AUC, and both balanced accuracies) is the unweighted mean over the
  classes present in ``y_true`` only; an absent class is left out of them, with a note naming
  it. Weighted means weigh classes by support, so an absent class has weight 0 there anyway.
  This is scikit-learn's ``balanced_accuracy_score`` rule, so ``balanced_accuracy`` equals
  ``macro_recall``. The bootstrap applies the same rule to the classes each resample holds.
- ``balanced_accuracy`` is the ISIC challenge's: the mean per-class recall over the classes
  present in ``y_true``.
- ``paper_balanced_accuracy`` is the seed paper's: the mean over the present classes of
  (sensitivity + specificity) / 2.
- F1 is 2TP / (2TP + FP + FN) (the paper prints TN in the denominator too, a typo).
- A per-class precision, recall or F1 whose denominator is zero is 0 (scikit-learn's
  ``zero_division=0``); for an absent class these per-class values are placeholders, not
  measurements, and no macro mean uses them.
- One-vs-rest ROC AUC is undefined for a class with no positives (or no negatives) in
  ``y_true``: it is ``None`` and left out of the macro and weighted AUC, with a note.

The predicted class is the arg-max of the probabilities. Everything returned is JSON-ready.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from skinbench.classes import CLASSES

PER_CLASS_METRICS = ("precision", "recall", "specificity", "f1", "auc")
BOOTSTRAP_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")


def compute_metrics(y_true: Sequence[int], probs: np.ndarray, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """All metrics of one set of predictions.

    ``y_true`` holds class indices, ``probs`` is ``(N, K)``; K is the number of classes.
    ``class_names`` defaults to ``CLASSES`` when K is 7, else to ``"0" .. "K-1"``.
    """
    y_true, probs = _check(y_true, probs)
    k = probs.shape[1]
    names = _class_names(k, class_names)
    labels = np.arange(k)
    y_pred = probs.argmax(axis=1)

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    stacked = multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp = stacked[:, 0, 0], stacked[:, 0, 1]
    specificity = np.divide(tn, tn + fp, out=np.zeros(k), where=(tn + fp) > 0)
    auc = np.array([_one_vs_rest_auc(y_true == c, probs[:, c]) for c in labels])
    with warnings.catch_warnings():
        # A class predicted but absent from y_true is left out, which is the ISIC definition.
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y_true, y_pred)

    per_class = {"precision": precision, "recall": recall, "specificity": specificity, "f1": f1, "auc": auc}
    present = support > 0  # absent classes are left out of every macro mean
    defined = ~np.isnan(auc)  # implies present
    result: dict[str, Any] = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "balanced_accuracy": float(balanced),
        "paper_balanced_accuracy": _mean(((recall + specificity) / 2)[present]),
    }
    for name, values in per_class.items():
        keep = present & defined if name == "auc" else present
        result[f"macro_{name}"] = _mean(values[keep])
        result[f"weighted_{name}"] = _mean(values[keep], weights=support[keep])
    result["per_class"] = {
        names[c]: {**{m: _number(per_class[m][c]) for m in PER_CLASS_METRICS}, "support": int(support[c])}
        for c in labels
    }
    result["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    result["classes"] = list(names)
    absent = [names[c] for c in labels if not present[c]]
    undefined = [names[c] for c in labels if present[c] and not defined[c]]
    notes = []
    if absent:
        notes.append(
            f"no true image of {', '.join(absent)} among the evaluated images: left out of every macro mean "
            "(both balanced accuracies included), weight 0 in the weighted means, ROC AUC undefined"
        )
    if undefined:
        notes.append(
            f"ROC AUC undefined for {', '.join(undefined)} (only one kind of label in y_true); left out of macro and weighted AUC"
        )
    result["notes"] = notes
    return result


def bootstrap(
    y_true: Sequence[int], probs: np.ndarray, n: int = 1000, seed: int | np.random.SeedSequence = 0,
    clusters: Sequence | None = None,
) -> dict[str, np.ndarray]:
    """``n`` bootstrap resamples of the images: each of BOOTSTRAP_METRICS, one value per resample.

    ``seed`` is anything ``numpy.random.default_rng`` takes (the report passes each cell its own
    ``SeedSequence``). ``clusters`` (one label per image, its lesion) makes it a cluster bootstrap
    (``resample_counts``). Only the images are resampled; the model and the split stay fixed.
    """
    y_true, probs = _check(y_true, probs)
    return resampled_metrics(resample_counts(len(y_true), n, seed, clusters), y_true, probs)


def resample_counts(
    n_images: int, n: int, seed: int | np.random.SeedSequence | np.random.Generator = 0, clusters: Sequence | None = None
) -> np.ndarray:
    """``(n, n_images)``: how many times each image is in each of ``n`` bootstrap resamples.

    Without ``clusters`` the images are drawn with replacement. With ``clusters`` (one label per
    image) the clusters are: each resample draws as many clusters as there are, with replacement,
    and an image is in it as often as its cluster is (a cluster bootstrap, Davison & Hinkley 1997,
    section 3.8). Images of one lesion are not independent, so the lesion is the unit to draw.
    Clusters are numbered in order of first appearance, so images that are each their own cluster
    draw exactly what the image bootstrap draws from the same seed.
    """
    rng = np.random.default_rng(seed)
    codes = np.arange(n_images) if clusters is None else pd.factorize(np.asarray(clusters), sort=False)[0]
    if len(codes) != n_images:
        raise ValueError(f"{len(codes)} cluster labels for {n_images} images")
    k = int(codes.max()) + 1 if n_images else 0
    draws = rng.integers(0, k, size=(n, k))
    drawn = np.bincount((np.arange(n)[:, None] * k + draws).ravel(), minlength=n * k).reshape(n, k)
    return drawn[:, codes]


def resampled_metrics(counts: np.ndarray, y_true: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray]:
    """BOOTSTRAP_METRICS for each row of ``counts`` (how often each image is in that resample).

    Vectorised over resamples; the values equal ``compute_metrics`` on the resampled images, so a
    class with no image in a resample is left out of that resample's macro means.
    """
    counts = np.asarray(counts, dtype=np.float64)
    k = probs.shape[1]
    matrices = _confusions(counts, y_true, probs)
    tp = np.diagonal(matrices, axis1=1, axis2=2)
    actual, predicted = matrices.sum(axis=2), matrices.sum(axis=1)
    recall = _recalls(matrices)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(actual > 0, 2 * tp / (actual + predicted), np.nan)  # 2TP / (2TP + FP + FN)
        auc = np.stack([_resampled_auc(counts, y_true == c, probs[:, c]) for c in range(k)], axis=1)
        return {
            "accuracy": tp.sum(axis=1) / counts.sum(axis=1),
            "balanced_accuracy": _nanmean_rows(recall),
            "macro_f1": _nanmean_rows(f1),
            "macro_auc": _nanmean_rows(auc),
        }


def resampled_balanced_accuracy(counts: np.ndarray, y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``resampled_metrics(counts, y_true, probs)["balanced_accuracy"]`` without the other metrics (no AUCs):
    for many weightings of the same images, e.g. permutations of group labels."""
    return _nanmean_rows(_recalls(_confusions(np.asarray(counts, dtype=np.float64), y_true, probs)))


def _confusions(counts: np.ndarray, y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(n, k, k)``: the confusion matrix (true, predicted) of each row of ``counts``."""
    k = probs.shape[1]
    pairs = np.zeros((len(y_true), k * k))
    pairs[np.arange(len(y_true)), np.asarray(y_true) * k + probs.argmax(axis=1)] = 1.0
    return (counts @ pairs).reshape(len(counts), k, k)


def _recalls(matrices: np.ndarray) -> np.ndarray:
    """``(n, k)``: each class's recall per confusion matrix; NaN for a class with no image (left out of
    the macro means)."""
    tp, actual = np.diagonal(matrices, axis1=1, axis2=2), matrices.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(actual > 0, tp / actual, np.nan)


def intervals(samples: Sequence[Mapping[str, np.ndarray]], level: float = 0.95) -> dict[str, dict[str, float | None]]:
    """Percentile interval of the mean over cells (e.g. seeds) of bootstrap samples.

    Each element of ``samples`` is one cell's ``bootstrap`` output (or any samples with the same
    keys), all drawn with the same ``n``; resample r of every cell is averaged before taking
    percentiles.
    """
    tail = (1 - level) / 2 * 100
    result: dict[str, dict[str, float | None]] = {}
    for metric in samples[0]:
        stacked = np.stack([np.asarray(s[metric], dtype=np.float64) for s in samples])
        with np.errstate(invalid="ignore"):
            means = _nanmean_rows(stacked.T)
        finite = means[~np.isnan(means)]
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan)
        result[metric] = {"low": _number(low), "high": _number(high)}
    return result


def flatten(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Every scalar of a ``compute_metrics`` result; per-class values as ``per_class.<class>.<metric>``."""
    flat: dict[str, float | None] = {}
    for key, value in metrics.items():
        if key == "per_class":
            for name, values in value.items():
                for metric, number in values.items():
                    flat[f"per_class.{name}.{metric}"] = number
        elif isinstance(value, (int, float)) or value is None:
            flat[key] = value
    return flat


def aggregate_seeds(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Mean, sample standard deviation (None below two values) and count of every scalar across seeds.

    Accepts ``compute_metrics`` results or already flat mappings; ``None`` values are skipped.
    """
    frame = pd.DataFrame([flatten(m) for m in per_seed]).apply(pd.to_numeric, errors="coerce")
    mean, std, count = frame.mean(), frame.std(ddof=1), frame.count()
    return {
        key: {"mean": _number(mean[key]), "std": _number(std[key]) if count[key] > 1 else None, "n": int(count[key])}
        for key in frame.columns
    }


def _check(y_true: Sequence[int], probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(y_true) or len(y_true) == 0:
        raise ValueError(f"need probs of shape (N, K) with N = len(y_true) > 0; got {probs.shape} for {len(y_true)} labels")
    if y_true.min() < 0 or y_true.max() >= probs.shape[1]:
        raise ValueError(f"labels must lie in [0, {probs.shape[1]}); got {y_true.min()}..{y_true.max()}")
    return y_true, probs


def _class_names(k: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None:
        if len(class_names) != k:
            raise ValueError(f"{len(class_names)} class names for {k} probability columns")
        return list(class_names)
    return list(CLASSES) if k == len(CLASSES) else [str(i) for i in range(k)]


def _one_vs_rest_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    if positive.all() or not positive.any():
        return np.nan
    return float(roc_auc_score(positive, scores))


def _resampled_auc(counts: np.ndarray, positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-vs-rest AUC per resample: the Mann-Whitney statistic with ties counted half, as roc_auc_score.

    Each positive wins against the resample's negatives scored below it and half of those tied with it.
    """
    order = np.argsort(scores, kind="stable")
    ranked, is_pos = scores[order], positive[order]
    new_value = np.r_[True, ranked[1:] != ranked[:-1]]
    first = np.maximum.accumulate(np.where(new_value, np.arange(len(ranked)), 0))  # first index of each tie group
    last = np.r_[np.flatnonzero(new_value)[1:], len(ranked)][np.cumsum(new_value) - 1]  # one past its end
    weights = counts[:, order]
    negatives = np.where(is_pos, 0.0, weights)
    before = np.concatenate([np.zeros((len(counts), 1)), np.cumsum(negatives, axis=1)], axis=1)
    pos_index = np.flatnonzero(is_pos)
    below = before[:, first[pos_index]]
    tied = before[:, last[pos_index]] - below
    wins = (weights[:, pos_index] * (below + 0.5 * tied)).sum(axis=1)
    pairs = weights[:, pos_index].sum(axis=1) * before[:, -1]
    return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1), np.nan)


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Mean of each row over its non-NaN entries (NaN for an all-NaN row), without warnings."""
    defined = ~np.isnan(values)
    total = np.where(defined, values, 0.0).sum(axis=1)
    count = defined.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _mean(values: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    if values.size == 0 or (weights is not None and weights.sum() == 0):
        return None
    return float(np.average(values, weights=weights))


def _number(value: float) -> float | None:
    """A JSON-ready float: NaN becomes None."""
    value = float(value)
    return None if np.isnan(value) else value

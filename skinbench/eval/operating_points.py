"""Clinical operating points: a threshold chosen on the validation part, applied to the reported part.

Two questions are asked of a 7-class model, each as a score and a positive set of classes:
melanoma (the melanoma probability) and malignant against benign (the sum of the mel, bcc and
akiec probabilities). An image is called positive when its score is at or above the threshold.
- Sensitivity at specificity s: the lowest threshold whose specificity on the validation part
  is at least s (the most sensitive such threshold); the reported part's sensitivity and
  specificity at it.
- Specificity at sensitivity s: the highest threshold whose sensitivity on the validation part is
  at least s; the reported part's specificity and sensitivity at it.
- Intervals (given the bootstrap counts of the reported part, e.g. a lesion-clustered bootstrap):
  the 95% percentile interval of the reported part's sensitivity and specificity at the
  threshold chosen on validation, held fixed. They cover the reported images' sampling only,
  not the uncertainty of the threshold itself.
- Partial AUC above 80% sensitivity (as ISIC 2024 scored it): the area under the ROC curve where
  the true-positive rate is at least 0.8, on the reported part; 0.2 is perfect, 0.02 chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from skinbench.classes import CLASSES
from skinbench.eval.metrics import intervals

#: Each question's positive classes.
TARGETS: dict[str, tuple[str, ...]] = {"melanoma": ("mel",), "malignant": ("mel", "bcc", "akiec")}
LEVELS: tuple[float, ...] = (0.80, 0.90, 0.95)  #: the specificities and sensitivities asked for
MIN_TPR = 0.80  #: the partial AUC's region


@dataclass(frozen=True)
class OperatingPoint:
    """One threshold, chosen on the validation part, and what it gives on the reported part."""

    target: str  #: a key of TARGETS
    fixed: str  #: "specificity" or "sensitivity": what the threshold was chosen to reach on validation
    level: float
    threshold: float
    sensitivity: float  #: on the reported part
    specificity: float  #: on the reported part
    sensitivity_ci_low: float | None = None  #: 95% bootstrap interval of the reported part's rate (threshold fixed)
    sensitivity_ci_high: float | None = None
    specificity_ci_low: float | None = None
    specificity_ci_high: float | None = None


def score(probs: np.ndarray, target: str) -> np.ndarray:
    """The target's score: the summed probability of its positive classes."""
    return probs[:, [CLASSES.index(c) for c in TARGETS[target]]].sum(axis=1)


def positives(y_true: np.ndarray, target: str) -> np.ndarray:
    """Whether each label is one of the target's positive classes."""
    return np.isin(y_true, [CLASSES.index(c) for c in TARGETS[target]])


def _rates(positive: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    called = scores >= threshold
    return float(called[positive].mean()), float((~called[~positive]).mean())


def resampled_rates(
    counts: np.ndarray, positive: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(sensitivity, specificity) at ``threshold`` in each row of bootstrap ``counts`` ``(n, images)``;
    NaN in a resample without positives (or negatives)."""
    called = scores >= threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((counts @ (called & positive)) / (counts @ positive),
                (counts @ (~called & ~positive)) / (counts @ ~positive))


def rate_intervals(
    counts: np.ndarray, positive: np.ndarray, scores: np.ndarray, threshold: float, level: float = 0.95
) -> tuple[tuple[float | None, float | None], tuple[float | None, float | None]]:
    """Percentile intervals of (sensitivity, specificity) at ``threshold`` over bootstrap ``counts``
    ``(n, images)``; a resample without positives (or negatives) is left out of that rate's interval."""
    sensitivity, specificity = resampled_rates(counts, positive, scores, threshold)
    found = intervals([{"sensitivity": sensitivity, "specificity": specificity}], level)
    return ((found["sensitivity"]["low"], found["sensitivity"]["high"]),
            (found["specificity"]["low"], found["specificity"]["high"]))


def threshold_at(positive: np.ndarray, scores: np.ndarray, fixed: str, level: float) -> float:
    """The threshold reaching ``level`` of ``fixed`` on (``positive``, ``scores``), best in the other rate."""
    candidates = np.unique(np.concatenate([scores, [np.inf]]))
    rates = np.array([_rates(positive, scores, t) for t in candidates])  # (sensitivity, specificity), rising t
    if fixed == "specificity":
        return float(candidates[np.argmax(rates[:, 1] >= level)])  # specificity rises with t: the first that reaches
    reaching = np.flatnonzero(rates[:, 0] >= level)  # sensitivity falls with t: the last that reaches
    return float(candidates[reaching[-1]])


def operating_points(
    val_true: np.ndarray, val_probs: np.ndarray, true: np.ndarray, probs: np.ndarray, counts: np.ndarray | None = None
) -> list[OperatingPoint]:
    """Every target's points at every level (targets without both positives and negatives are left out);
    with bootstrap ``counts`` of the reported part (``metrics.resample_counts``), their intervals."""
    points = []
    for target in TARGETS:
        val_positive, positive = positives(val_true, target), positives(true, target)
        if val_positive.all() or not val_positive.any() or positive.all() or not positive.any():
            continue
        for fixed in ("specificity", "sensitivity"):
            for level in LEVELS:
                t = threshold_at(val_positive, score(val_probs, target), fixed, level)
                sensitivity, specificity = _rates(positive, score(probs, target), t)
                intervals = ((None, None), (None, None)) if counts is None else rate_intervals(
                    counts, positive, score(probs, target), t)
                points.append(OperatingPoint(target, fixed, level, t, sensitivity, specificity,
                                             *intervals[0], *intervals[1]))
    return points


def partial_auc(positive: np.ndarray, scores: np.ndarray, min_tpr: float = MIN_TPR) -> float:
    """The area under the ROC curve where the true-positive rate is at least ``min_tpr`` (unstandardised).

    Swapping the classes and negating the scores turns that region into the false-positive rates
    up to 1 - ``min_tpr``, whose McClish-standardised area scikit-learn computes; it is turned
    back into the plain area, as the ISIC 2024 scorer does.
    """
    max_fpr = 1.0 - min_tpr
    standardised = roc_auc_score(~positive, -scores, max_fpr=max_fpr)
    return float(0.5 * max_fpr**2 + (max_fpr - 0.5 * max_fpr**2) / 0.5 * (standardised - 0.5))

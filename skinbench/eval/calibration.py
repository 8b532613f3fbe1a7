"""How far a model's probabilities can be taken at their word: ECE, Brier score, NLL, temperature.

Definitions (the report repeats them):
- Top-label ECE: the images are put in ``BINS`` equal-width bins of their top probability
  (confidence); ECE = sum over bins of (images in the bin / all images) x |accuracy of the bin
  - mean confidence of the bin|. Empty bins add nothing.
- Class-wise ECE: the same for every class's probability against whether the image is of that
  class, averaged over the classes (Kull et al., 2019).
- Brier score: the mean over images of the sum over classes of (probability - one-hot label)^2
  (0 is perfect; 2 the worst).
- NLL: the mean negative log of the probability given to the true class (probabilities clipped
  at 1e-12).
- Temperature scaling (Guo et al., 2017): logits = log(probabilities), divided by one T > 0
  fitted to minimise the NLL on the validation part, then applied unchanged to the reported part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

BINS = 15  #: equal-width confidence bins of the ECE
EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """The calibration figures of one set of probabilities."""

    ece: float  #: top-label, BINS equal-width bins
    classwise_ece: float
    brier: float
    nll: float


def _bins(confidence: np.ndarray, bins: int) -> np.ndarray:
    """The equal-width bin of each confidence in [0, 1] (a confidence on an edge goes to the lower bin)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)


def _binned_gap(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Sum over equal-width bins of (share of samples) x |mean correctness - mean confidence|."""
    which = _bins(confidence, bins)
    return float(sum((which == b).mean() * abs(correct[which == b].mean() - confidence[which == b].mean())
                     for b in np.unique(which)))


def top_label_ece(y_true: np.ndarray, probs: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error of the top label over ``bins`` equal-width confidence bins."""
    return _binned_gap(probs.max(axis=1), (probs.argmax(axis=1) == y_true).astype(float), bins)


def classwise_ece(y_true: np.ndarray, probs: np.ndarray, bins: int = BINS) -> float:
    """The mean over classes of each class probability's binned calibration error."""
    return float(np.mean([_binned_gap(probs[:, c], (y_true == c).astype(float), bins) for c in range(probs.shape[1])]))


def brier_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean over images of the squared distance between the probabilities and the one-hot label."""
    one_hot = np.eye(probs.shape[1])[y_true]
    return float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))


def negative_log_likelihood(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean of -log(probability of the true class)."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], EPS, 1.0))))


def calibration(y_true: np.ndarray, probs: np.ndarray, bins: int = BINS) -> Calibration:
    """Every figure of one set of probabilities."""
    return Calibration(top_label_ece(y_true, probs, bins), classwise_ece(y_true, probs, bins),
                       brier_score(y_true, probs), negative_log_likelihood(y_true, probs))


def fit_temperature(y_true: np.ndarray, probs: np.ndarray) -> float:
    """The temperature T that minimises the NLL of softmax(log(probs) / T) on (``y_true``, ``probs``)."""
    logits = np.log(np.clip(probs, EPS, 1.0))
    rows = np.arange(len(y_true))

    def nll(log_t: float) -> float:
        return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, y_true]))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` with their logits divided by ``temperature``."""
    return softmax(np.log(np.clip(probs, EPS, 1.0)) / temperature, axis=1)


def reliability(y_true: np.ndarray, probs: np.ndarray, bins: int = BINS) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, images) of each non-empty top-label bin: the reliability diagram's points."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y_true
    which = _bins(confidence, bins)
    return [(float(confidence[which == b].mean()), float(correct[which == b].mean()), int((which == b).sum()))
            for b in np.unique(which)]

"""Calibration and operating points against independent computations (scikit-learn, plain loops)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import auc, brier_score_loss, log_loss, roc_curve

from skinbench.classes import CLASSES
from skinbench.eval.calibration import (
    brier_score,
    calibration,
    classwise_ece,
    fit_temperature,
    negative_log_likelihood,
    reliability,
    scale,
    top_label_ece,
)
from skinbench.eval.metrics import resample_counts
from skinbench.eval.operating_points import operating_points, partial_auc, positives, score, threshold_at


def _probs(n: int, seed: int, sharpness: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and overconfident probabilities that favour the right class more often than not."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 7, n)
    logits = rng.normal(size=(n, 7)) + 1.5 * np.eye(7)[y]
    p = np.exp(sharpness * logits)
    return y, p / p.sum(axis=1, keepdims=True)


def test_brier_and_nll_are_scikit_learns() -> None:
    y, p = _probs(400, 0)
    one_hot = np.eye(7)[y]
    # scikit-learn's binary Brier score per class, summed over classes, is the multi-class Brier score.
    assert brier_score(y, p) == pytest.approx(sum(brier_score_loss(one_hot[:, c], p[:, c]) for c in range(7)))
    assert negative_log_likelihood(y, p) == pytest.approx(log_loss(y, p, labels=range(7)))


def test_ece_is_the_binned_gap_computed_by_a_loop() -> None:
    y, p = _probs(500, 1)
    confidence, correct = p.max(axis=1), p.argmax(axis=1) == y
    expected = 0.0
    for low, high in zip(np.linspace(0, 1, 16)[:-1], np.linspace(0, 1, 16)[1:]):
        members = (confidence > low) & (confidence <= high)
        if members.any():
            expected += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    assert top_label_ece(y, p) == pytest.approx(expected)
    assert sum(n for _, _, n in reliability(y, p)) == 500
    perfect = np.eye(7)[y]
    assert top_label_ece(y, perfect) == 0 and classwise_ece(y, perfect) == 0


def test_temperature_fitted_on_validation_lowers_the_nll_of_overconfident_probabilities() -> None:
    val_y, val_p = _probs(600, 2, sharpness=4.0)
    test_y, test_p = _probs(600, 3, sharpness=4.0)
    t = fit_temperature(val_y, val_p)
    assert t > 1.5  # overconfident: softened
    grid = [negative_log_likelihood(val_y, scale(val_p, s)) for s in np.linspace(0.5, 8, 400)]
    assert negative_log_likelihood(val_y, scale(val_p, t)) <= min(grid) + 1e-4  # the minimum over a fine grid
    before, after = calibration(test_y, test_p), calibration(test_y, scale(test_p, t))
    assert after.nll < before.nll and after.ece < before.ece
    np.testing.assert_array_equal(scale(test_p, t).argmax(axis=1), test_p.argmax(axis=1))  # ranking kept


def test_thresholds_are_chosen_on_validation_as_the_roc_curve_says() -> None:
    val_y, val_p = _probs(700, 4)
    positive, s = positives(val_y, "malignant"), score(val_p, "malignant")
    fpr, tpr, thresholds = roc_curve(positive, s, drop_intermediate=False)
    for level in (0.8, 0.9, 0.95):
        t = threshold_at(positive, s, "specificity", level)
        allowed = thresholds[1 - fpr >= level]
        assert t == pytest.approx(allowed.min())  # the most sensitive threshold with enough specificity
        assert (~(s[~positive] >= t)).mean() >= level
        t = threshold_at(positive, s, "sensitivity", level)
        assert t == pytest.approx(thresholds[tpr >= level].max())


def test_operating_points_apply_the_validation_threshold_to_the_reported_part() -> None:
    val_y, val_p = _probs(700, 5)
    y, p = _probs(500, 6)
    points = operating_points(val_y, val_p, y, p)
    assert {(q.target, q.fixed, q.level) for q in points} == {
        (target, fixed, level) for target in ("melanoma", "malignant") for fixed in ("specificity", "sensitivity")
        for level in (0.8, 0.9, 0.95)
    }
    mel = CLASSES.index("mel")
    for q in points:
        if q.target == "melanoma":
            called = p[:, mel] >= q.threshold
            assert q.sensitivity == pytest.approx(called[y == mel].mean())
            assert q.specificity == pytest.approx((~called[y != mel]).mean())


def test_operating_point_intervals_are_percentiles_of_the_rates_of_resampled_lesions() -> None:
    val_y, val_p = _probs(700, 5)
    y, p = _probs(300, 6)
    lesions = np.arange(300) // 2  # two images a lesion
    counts = resample_counts(300, 200, 7, lesions)
    assert all(q.sensitivity_ci_low is None for q in operating_points(val_y, val_p, y, p))
    mel = CLASSES.index("mel")
    for q in operating_points(val_y, val_p, y, p, counts):
        if q.target != "melanoma":
            continue
        sens, spec = [], []
        for row in counts:  # each resample written out image by image
            y_r, called_r = np.repeat(y, row), np.repeat(p[:, mel] >= q.threshold, row)
            sens.append(called_r[y_r == mel].mean())
            spec.append((~called_r[y_r != mel]).mean())
        assert (q.sensitivity_ci_low, q.sensitivity_ci_high) == pytest.approx(tuple(np.percentile(sens, [2.5, 97.5])))
        assert (q.specificity_ci_low, q.specificity_ci_high) == pytest.approx(tuple(np.percentile(spec, [2.5, 97.5])))
        assert q.sensitivity_ci_low < q.sensitivity_ci_high


def test_partial_auc_is_the_area_above_80_percent_sensitivity() -> None:
    y, p = _probs(800, 7, sharpness=1.0)
    positive, s = positives(y, "melanoma"), score(p, "melanoma")
    fpr, tpr, _ = roc_curve(positive, s)
    # The area between the ROC curve and the line TPR = 0.8, where the curve is above it.
    grid = np.linspace(0, 1, 200001)
    expected = np.trapezoid(np.clip(np.interp(grid, fpr, tpr) - 0.8, 0, None), grid)
    assert partial_auc(positive, s) == pytest.approx(expected, abs=1e-4)
    assert partial_auc(positive, np.where(positive, 1.0, 0.0)) == pytest.approx(0.2)
    assert 0 <= partial_auc(positive, s) <= 0.2
    assert auc(fpr, tpr) > 0.5

